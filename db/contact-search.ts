/**
 * Finding contacts: by address, trait, list or segment membership, a page at a time (keyset
 * pagination on the contact id, so page 1,000 costs what page 1 does). Merged-away ids (an
 * anonymous visitor who logged in) are not contacts of their own and never show.
 *
 * List and segment memberships live in tables other modules own; they are found by name at
 * query time (`membershipTable`), so a search on them answers "not available" instead of
 * failing while those modules are not installed.
 */
import { readContacts } from './contact-batch';
import type { Contact } from './contacts';
import type { Queryable } from './pool';

export type MembershipKind = 'list' | 'segment';

export interface MembershipTable {
  table: string;
  /** The list or segment id column. */
  key: string;
  /** Set when the membership ended (left the list, exited the segment). */
  end: string;
  /** The table of the lists or segments themselves (for their names), if any. */
  owner: string;
}

// The names each module may give its table, in order of preference.
const CANDIDATES: Record<MembershipKind, MembershipTable[]> = {
  list: [
    { table: 'list_memberships', key: 'list_id', end: 'left_at', owner: 'lists' },
    { table: 'list_members', key: 'list_id', end: 'left_at', owner: 'lists' },
  ],
  segment: [
    { table: 'segment_members', key: 'segment_id', end: 'exited_at', owner: 'segments' },
    { table: 'segment_memberships', key: 'segment_id', end: 'exited_at', owner: 'segments' },
  ],
};

/** The membership table of this kind, if its module is installed (its columns checked too). */
export async function membershipTable(q: Queryable, kind: MembershipKind): Promise<MembershipTable | undefined> {
  const { rows } = await q.query<{ table_name: string; columns: string[] }>(
    `SELECT table_name, array_agg(column_name::text) AS columns FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ANY($1) GROUP BY table_name`,
    [CANDIDATES[kind].map((c) => c.table)],
  );
  return CANDIDATES[kind].find((c) =>
    rows.some((r) => r.table_name === c.table && [c.key, c.end, 'contact_id'].every((col) => r.columns.includes(col))),
  );
}

export async function tableExists(q: Queryable, table: string): Promise<boolean> {
  const { rows } = await q.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
  return rows[0].ok;
}

export interface ContactFilters {
  email?: string;
  phone?: string;
  /** Trait path (dots for nesting) → the values it may have (any of them). */
  traits: { path: string[]; values: unknown[] }[];
  list?: string;
  segment?: string;
}

export interface ContactPage {
  contacts: Contact[];
  /** The last id of this page when there may be more. */
  nextAfter: string | null;
}

/** `{a: {b: value}}` for path [a, b]: what `traits @>` matches (and the GIN index serves). */
const nested = (path: string[], value: unknown): unknown =>
  path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);

export async function searchContacts(
  q: Queryable,
  filters: ContactFilters,
  page: { limit: number; after?: string },
  tables: Partial<Record<MembershipKind, MembershipTable>> = {},
): Promise<ContactPage> {
  const where = ['c.merged_into IS NULL'];
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  if (filters.email !== undefined) where.push(`c.email = ${param(filters.email.trim().toLowerCase())}`);
  if (filters.phone !== undefined) where.push(`c.phone = ${param(filters.phone.trim())}`);
  for (const trait of filters.traits) {
    where.push(
      `(${trait.values.map((v) => `c.traits @> ${param(JSON.stringify(nested(trait.path, v)))}::jsonb`).join(' OR ')})`,
    );
  }
  for (const kind of ['list', 'segment'] as const) {
    const id = filters[kind];
    const t = tables[kind];
    if (id === undefined || !t) continue;
    where.push(
      `EXISTS (SELECT 1 FROM ${t.table} m WHERE m.contact_id = c.id AND m.${t.key} = ${param(id)} AND m.${t.end} IS NULL)`,
    );
  }
  if (page.after !== undefined) where.push(`c.id > ${param(page.after)}`);
  const { rows } = await q.query<{ id: string }>(
    `SELECT c.id FROM contacts c WHERE ${where.join(' AND ')} ORDER BY c.id LIMIT ${param(page.limit + 1)}`,
    params,
  );
  const more = rows.length > page.limit;
  const found = await readContacts(
    q,
    rows.slice(0, page.limit).map((r) => r.id),
  );
  const contacts = rows.slice(0, page.limit).flatMap((r) => {
    const c = found.get(r.id);
    return c
      ? [{ id: c.id, email: c.email, phone: c.phone, traits: c.traits, createdAt: c.createdAt, updatedAt: c.updatedAt }]
      : [];
  });
  return { contacts, nextAfter: more ? rows[page.limit - 1].id : null };
}

export interface Membership {
  id: string;
  name: string | null;
  /** The membership row as its module stores it (when and how it started…), minus the ids. */
  details: Record<string, unknown>;
}

/** The lists or segments the contact is in now (or ever, with `history`), with their names. */
export async function contactMemberships(
  q: Queryable,
  contactId: string,
  kind: MembershipKind,
  opts: { history?: boolean } = {},
): Promise<Membership[] | null> {
  const t = await membershipTable(q, kind);
  if (!t) return null;
  const named = await tableExists(q, t.owner);
  const { rows } = await q.query<{ id: string; name: string | null; details: Record<string, unknown> }>(
    `SELECT m.${t.key} AS id, ${named ? `to_jsonb(o) ->> 'name'` : 'NULL'} AS name, to_jsonb(m) - 'contact_id' - '${t.key}' AS details
       FROM ${t.table} m ${named ? `LEFT JOIN ${t.owner} o ON o.id = m.${t.key}` : ''}
      WHERE m.contact_id = $1 ${opts.history ? '' : `AND m.${t.end} IS NULL`}
      ORDER BY 1 LIMIT 10000`,
    [contactId],
  );
  return rows;
}
