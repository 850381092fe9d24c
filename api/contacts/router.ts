import { Router } from 'express';
import { z } from 'zod';
import type { WorkflowClient } from '@temporalio/client';
import { getContact, upsertContact } from '../../db/contacts';
import { savePushSubscription } from '../../db/push-subscriptions';
import { listMessageEvents } from '../../db/message-events';
import { parseOr400, storableParam } from '../validate';
import { listContactMessages } from '../../db/messages';
import { inTransaction, type Db } from '../../db/pool';
import { erasedAmong, liftErasure } from '../../db/contact-erase';
import { HttpError, notFound } from '../errors';
import { canonicalContactId } from '../../db/contact-merge';
import { listContactGroups } from '../../db/groups';
import { contactTimeline, type TimelinePosition } from '../../db/timeline';
import { PAGE_VIEWED, SCREEN_VIEWED } from '../events/prepare';
import { getImport, importErrors, listImports } from '../../db/imports';
import type { Logger } from '../../runtime/logger';
import { eraseContact, streamExport } from './gdpr';
import { runImport } from '../../services/contact-import';
import { discardRest, importFormat, readImportRows } from './import';
import { contactProfile } from '../../services/contact-profile';
import { contactJourneys } from '../../services/contact-journeys';
import { encodeContactCursor, findContacts } from './search';

export const pushSubscription = z.looseObject({
  endpoint: z.url({ protocol: /^https?$/ }),
  keys: z.looseObject({ p256dh: z.string().min(1), auth: z.string().min(1) }),
});

/** The opaque cursor: where the previous page ended, as base64url JSON. */
const encodeCursor = (p: TimelinePosition) => Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url');
// Postgres's text of a timestamptz, e.g. "2026-03-01 10:00:00.123456+00".
const POSTGRES_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const cursor = z
  .string()
  .max(200)
  .transform((text, ctx) => {
    try {
      const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
      if (typeof at === 'string' && POSTGRES_TIME.test(at) && Number.isSafeInteger(id)) return { at, id: id as number };
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use nextCursor from the previous page)' });
    return z.NEVER;
  });

/** `type` is a stored type, or page/screen (stored as the track events Page Viewed / Screen Viewed). */
const VIEWED: Record<string, string | undefined> = { page: PAGE_VIEWED, screen: SCREEN_VIEWED };

export const timelineQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: cursor.optional(),
  type: z.enum(['track', 'identify', 'group', 'alias', 'page', 'screen']).optional(),
  name: z.string().min(1).max(200).optional(),
});

export const importErrorsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after_row: z.coerce.number().int().min(0).optional(),
});

interface ContactsDeps {
  db: Db;
  workflows: WorkflowClient;
  log: Logger;
}

/**
 * `POST /v1/contacts/import` reads its body as a stream (CSV or JSON lines, possibly gzipped):
 * mount it before the JSON body parser, which would refuse it.
 */
export function contactImportRouter(deps: ContactsDeps): Router {
  const router = Router();
  router.post('/import', async (req, res) => {
    const format = importFormat(req.get('content-type'));
    const encoding = (req.get('content-encoding') ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip')
      throw new HttpError(
        415,
        'unsupported_encoding',
        `content encoding "${encoding}" is not supported (gzip or none)`,
      );
    let record: Awaited<ReturnType<typeof runImport>>;
    try {
      record = await runImport(deps, format, () => readImportRows(req, { format, gzip: encoding === 'gzip' }));
    } catch (err) {
      await discardRest(req);
      throw err;
    }
    res
      .status(200)
      .json({ importId: record.id, ...record, errors: await importErrors(deps.db, record.id, { limit: 100 }) });
  });
  return router;
}

export function contactsRouter(deps: ContactsDeps): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  /** Contacts by email, phone, trait.<name>, list or segment, a page at a time. */
  router.get('/', async (req, res) => {
    const page = await findContacts(deps.db, req.query);
    const nextCursor = page.nextAfter === null ? null : encodeContactCursor(page.nextAfter);
    // `next_cursor`: the name before pagination was one style across routes, kept for existing clients.
    res.json({ contacts: page.contacts, nextCursor, next_cursor: nextCursor });
  });

  /** The latest imports with their progress (a running import is listed while its upload goes on). */
  router.get('/imports', async (req, res) => {
    const { limit } = parseOr400(z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }), req.query);
    res.json({ imports: await listImports(deps.db, limit) });
  });

  /** An import's progress, and its bad rows (row, field, message) a page at a time. */
  router.get('/imports/:importId', async (req, res) => {
    const record = await getImport(deps.db, req.params.importId);
    if (!record) throw notFound(`import "${req.params.importId}"`);
    const query = parseOr400(importErrorsQuery, req.query);
    res.json({
      ...record,
      errors: await importErrors(deps.db, record.id, { limit: query.limit, afterRow: query.after_row }),
    });
  });

  /** The profile, consent per channel, lists, segments and computed attributes. */
  router.get('/:id', async (req, res) => {
    const profile = await contactProfile(deps.db, req.params.id);
    if (!profile) throw notFound(`contact "${req.params.id}"`);
    res.json(profile);
  });

  /** GDPR access: everything held about the person, as one JSON document. */
  router.get('/:id/export', async (req, res) => {
    if (!(await streamExport(deps, req.params.id, res))) throw notFound(`contact "${req.params.id}"`);
  });

  /** Whether an id is erased: its events and identifies are not stored (only the id's hash is kept, no data). */
  router.get('/erasures/:id', async (req, res) => {
    const erased = (await erasedAmong(deps.db, [req.params.id])).has(req.params.id);
    if (!erased) throw notFound(`erasure of "${req.params.id}"`);
    res.json({ erased: true });
  });

  /**
   * Lifts an erasure, for a person who came back and consented again: their ids (user id and the anonymous ids of
   * that erasure) are accepted again from now on. Nothing erased comes back. An admin act, logged.
   */
  router.delete('/erasures/:id', async (req, res) => {
    const lifted = await inTransaction(deps.db, (tx) => liftErasure(tx, req.params.id));
    if (!lifted) throw notFound(`erasure of "${req.params.id}"`);
    deps.log.info({ erasureId: lifted.erasureId, ids: lifted.ids }, 'erasure lifted');
    res.json({ lifted: true, erasureId: lifted.erasureId, erasedAt: lifted.erasedAt, ids: lifted.ids });
  });

  /** GDPR erasure: the person's data gone, their journeys ended, their addresses still suppressed (as hashes). */
  router.delete('/:id', async (req, res) => {
    const outcome = await eraseContact(deps, req.params.id);
    if (!outcome) throw notFound(`contact "${req.params.id}"`);
    res.json({
      erased: true,
      erasureId: outcome.erasureId,
      ids: outcome.ids,
      journeysEnded: outcome.journeysEnded,
      rows: outcome.counts,
    });
  });

  /** The contact's events, newest first; `nextCursor` fetches the next page. */
  router.get('/:id/events', async (req, res) => {
    const query = parseOr400(timelineQuery, req.query);
    // An id merged into another contact (an anonymous visitor who logged in) shows that contact.
    const contactId = await canonicalContactId(deps.db, req.params.id);
    if (!(await getContact(deps.db, contactId))) throw notFound(`contact "${req.params.id}"`);
    const viewed = query.type ? VIEWED[query.type] : undefined;
    const type = viewed ? 'track' : (query.type as Exclude<typeof query.type, 'page' | 'screen'>);
    if (viewed && query.name !== undefined && query.name !== viewed)
      return void res.json({ contactId, events: [], nextCursor: null, next_cursor: null });
    const page = await contactTimeline(deps.db, contactId, {
      limit: query.limit,
      after: query.cursor,
      type,
      name: viewed ?? query.name,
    });
    const nextCursor = page.next ? encodeCursor(page.next) : null;
    // `next_cursor`: the deprecated name of `nextCursor`, kept for existing clients.
    res.json({ contactId, events: page.events, nextCursor, next_cursor: nextCursor });
  });

  /** The groups (accounts, companies) the contact's `group` calls named, with their traits. */
  router.get('/:id/groups', async (req, res) => {
    const contactId = await canonicalContactId(deps.db, req.params.id);
    if (!(await getContact(deps.db, contactId))) throw notFound(`contact "${req.params.id}"`);
    res.json({
      contactId,
      groups: (await listContactGroups(deps.db, contactId)).map(({ groupId, traits, createdAt, updatedAt }) => ({
        groupId,
        traits,
        createdAt,
        updatedAt,
      })),
    });
  });

  router.get('/:id/journeys', async (req, res) => {
    res.json({ journeys: await contactJourneys(deps.db, deps.workflows, req.params.id) });
  });

  /** The browser's PushSubscription (JSON) for this contact; web push steps reach every one. */
  router.put('/:id/push-subscriptions', async (req, res) => {
    const subscription = parseOr400(pushSubscription, req.body);
    await upsertContact(deps.db, req.params.id);
    await savePushSubscription(deps.db, req.params.id, subscription);
    res.status(201).json({ contactId: req.params.id, endpoint: subscription.endpoint });
  });

  /** Each message with its delivery history (provider and tracking events, oldest first). */
  router.get('/:id/messages', async (req, res) => {
    const messages = await listContactMessages(deps.db, req.params.id);
    const events = await listMessageEvents(
      deps.db,
      messages.map((m) => m.id),
    );
    res.json({
      messages: messages.map((m) => ({
        ...m,
        events: events
          .filter((e) => e.messageId === m.id)
          .map(({ source, type, occurredAt, data }) => ({ source, type, occurredAt, data })),
      })),
    });
  });

  return router;
}
