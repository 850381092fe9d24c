import { Router } from 'express';
import { z } from 'zod';
import { getContact, upsertContact } from '../../db/contacts';
import { savePushSubscription } from '../../db/push-subscriptions';
import { listMessageEvents } from '../../db/message-events';
import { parseOr400, storableParam } from '../validate';
import { listContactJourneys } from '../../db/journeys';
import { listContactMessages } from '../../db/messages';
import type { Db } from '../../db/pool';
import { notFound } from '../errors';
import { canonicalContactId } from '../../db/contact-merge';
import { contactTimeline, type TimelinePosition } from '../../db/timeline';
import { PAGE_VIEWED, SCREEN_VIEWED } from '../events/prepare';

const pushSubscription = z.looseObject({
  endpoint: z.url({ protocol: /^https?$/ }),
  keys: z.looseObject({ p256dh: z.string().min(1), auth: z.string().min(1) }),
});

/** The opaque cursor: where the previous page ended, as base64url JSON. */
const encodeCursor = (p: TimelinePosition) => Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url');
// Postgres's text of a timestamptz, e.g. "2026-03-01 10:00:00.123456+00".
const POSTGRES_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const cursor = z.string().max(200).transform((text, ctx) => {
  try {
    const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'string' && POSTGRES_TIME.test(at) && Number.isSafeInteger(id)) return { at, id: id as number };
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use next_cursor from the previous page)' });
  return z.NEVER;
});

/** `type` is a stored type, or page/screen (stored as the track events Page Viewed / Screen Viewed). */
const VIEWED: Record<string, string | undefined> = { page: PAGE_VIEWED, screen: SCREEN_VIEWED };

const timelineQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: cursor.optional(),
  type: z.enum(['track', 'identify', 'group', 'alias', 'page', 'screen']).optional(),
  name: z.string().min(1).max(200).optional(),
});

export function contactsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/:id', async (req, res) => {
    const contact = await getContact(deps.db, req.params.id);
    if (!contact) throw notFound(`contact "${req.params.id}"`);
    res.json(contact);
  });

  /** The contact's events, newest first; `next_cursor` fetches the next page. */
  router.get('/:id/events', async (req, res) => {
    const query = parseOr400(timelineQuery, req.query);
    // An id merged into another contact (an anonymous visitor who logged in) shows that contact.
    const contactId = await canonicalContactId(deps.db, req.params.id);
    if (!(await getContact(deps.db, contactId))) throw notFound(`contact "${req.params.id}"`);
    const viewed = query.type ? VIEWED[query.type] : undefined;
    const type = viewed ? 'track' : (query.type as Exclude<typeof query.type, 'page' | 'screen'>);
    if (viewed && query.name !== undefined && query.name !== viewed) return void res.json({ contactId, events: [], next_cursor: null });
    const page = await contactTimeline(deps.db, contactId, { limit: query.limit, after: query.cursor, type, name: viewed ?? query.name });
    res.json({ contactId, events: page.events, next_cursor: page.next ? encodeCursor(page.next) : null });
  });

  router.get('/:id/journeys', async (req, res) => {
    res.json({ journeys: await listContactJourneys(deps.db, req.params.id) });
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
    const events = await listMessageEvents(deps.db, messages.map((m) => m.id));
    res.json({
      messages: messages.map((m) => ({
        ...m,
        events: events.filter((e) => e.messageId === m.id).map(({ source, type, occurredAt, data }) => ({ source, type, occurredAt, data })),
      })),
    });
  });

  return router;
}
