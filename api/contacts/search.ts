/**
 * `GET /v1/contacts`: find contacts by `email`, `phone`, `trait.<path>=<value>` (repeatable:
 * any of the values; dots reach nested traits), `list`, `segment`; `limit` and `cursor` page
 * through them (`nextCursor` of the previous page).
 */
import type { Request } from 'express';
import { z } from 'zod';
import type { Issue } from '../../flows/validate';
import {
  membershipTable,
  searchContacts,
  type ContactFilters,
  type ContactPage,
  type MembershipKind,
  type MembershipTable,
} from '../../db/contact-search';
import type { Queryable } from '../../db/pool';
import { invalid } from '../errors';
import { parseOr400 } from '../validate';

const one = (name: string) =>
  z
    .string({ error: `${name} must be given once, as text` })
    .min(1, `${name} must not be empty`)
    .max(255, `${name} is longer than 255 characters`);

const cursor = z
  .string()
  .max(400)
  .transform((text, ctx) => {
    try {
      const [id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
      if (typeof id === 'string') return id;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use nextCursor from the previous page)' });
    return z.NEVER;
  });
export const encodeContactCursor = (id: string) => Buffer.from(JSON.stringify([id])).toString('base64url');

export const searchQuery = z.strictObject({
  email: one('email').optional(),
  phone: one('phone').optional(),
  list: one('list').optional(),
  segment: one('segment').optional(),
  limit: z.coerce.number({ error: 'limit must be a number' }).int().min(1).max(200).default(50),
  cursor: cursor.optional(),
});

const TRAIT = /^traits?\.(.*)$/;
const MAX_TRAIT_FILTERS = 10;

/** A query value as the trait values it may mean: the text, and the number/boolean it spells. */
function traitValues(text: string): unknown[] {
  const values: unknown[] = [text];
  if (/^(-?\d+(\.\d+)?|true|false)$/.test(text)) values.push(JSON.parse(text));
  return values;
}

export function parseSearch(query: Request['query']): { filters: ContactFilters; limit: number; after?: string } {
  const plain: Record<string, unknown> = {};
  const traits: ContactFilters['traits'] = [];
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(query)) {
    const trait = TRAIT.exec(key);
    if (!trait) {
      plain[key] = value;
      continue;
    }
    const path = trait[1].split('.');
    const texts = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    if (path.some((p) => p === '') || texts.length === 0 || texts.some((t) => t.length > 1000) || path.length > 8) {
      issues.push({
        path: ['query', key],
        message: `${key} must be trait.<name>=<value> (a value of at most 1000 characters; dots for nested traits)`,
      });
    } else traits.push({ path, values: texts.flatMap(traitValues) });
  }
  if (traits.length > MAX_TRAIT_FILTERS)
    issues.push({ path: ['query'], message: `at most ${MAX_TRAIT_FILTERS} trait filters` });
  if (issues.length) throw invalid(issues);
  const parsed = parseOr400(searchQuery, plain);
  return {
    filters: { email: parsed.email, phone: parsed.phone, list: parsed.list, segment: parsed.segment, traits },
    limit: parsed.limit,
    after: parsed.cursor,
  };
}

const MODULE: Record<MembershipKind, string> = { list: 'lists', segment: 'segments' };

export async function findContacts(q: Queryable, query: Request['query']): Promise<ContactPage> {
  const { filters, limit, after } = parseSearch(query);
  const tables: Partial<Record<MembershipKind, MembershipTable>> = {};
  for (const kind of ['list', 'segment'] as const) {
    if (filters[kind] === undefined) continue;
    const table = await membershipTable(q, kind);
    if (!table)
      throw invalid([
        {
          path: ['query', kind],
          message: `searching by ${kind} needs the ${MODULE[kind]} module, which this server does not have yet`,
        },
      ]);
    tables[kind] = table;
  }
  return searchContacts(q, filters, { limit, after }, tables);
}
