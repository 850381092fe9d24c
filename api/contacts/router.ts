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

const pushSubscription = z.looseObject({
  endpoint: z.url({ protocol: /^https?$/ }),
  keys: z.looseObject({ p256dh: z.string().min(1), auth: z.string().min(1) }),
});

export function contactsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/:id', async (req, res) => {
    const contact = await getContact(deps.db, req.params.id);
    if (!contact) throw notFound(`contact "${req.params.id}"`);
    res.json(contact);
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
