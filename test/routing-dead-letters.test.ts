/**
 * Routing with a failure budget, against a real Temporal dev server (its real limits; here a
 * workflow id limit of 100 characters, so a poison event is cheap to make) and real Postgres:
 * - a long journey key is hashed into the workflow id, so it no longer refuses the start;
 * - a start Temporal refuses is recorded with Temporal's message and dead-lettered, and the
 *   contact's next order still ends its journey;
 * - an event whose routing keeps failing is retried within its budget, then dead-lettered for
 *   the flow that failed only, and a retry through the API routes it once the cause is gone;
 * - an outage (unknown namespace) is never "this journey refused": the event waits, uncounted;
 * - /v1/track keeps a contact's order behind a batch still being routed;
 * - a tracked click and SendGrid's webhook array are stored and answered while Temporal is
 *   down, and routed once it is back.
 */
import { randomUUID, sign } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import supertest from 'supertest';
import { upsertContact } from '../db/contacts';
import { getEvent, insertEvent, type StoredEvent } from '../db/events';
import type { FlowInput } from '../flows/schema';
import type { RoutingResult } from '../routing/route-event';
import { routeStoredMany } from '../routing/route-many';
import { routeStored } from '../routing/router';
import { journeyWorkflowId } from '../runtime/journey-identity';
import { waitFor } from './helpers/fake-http';
import { Harness, SENDGRID_WEBHOOK_KEYS, TEST_LINKS } from './helpers/harness';
import { TemporalProxy } from './helpers/temporal-proxy';

const MAX_ID = 100;
let h: Harness;

beforeAll(async () => {
  h = await Harness.start({
    runRouter: false,
    devServerArgs: ['--dynamic-config-value', `limit.maxIDLength=${MAX_ID}`],
  });
  await h.putFlow('cart', {
    ...remindLater('Checkout Started'),
    journeyKey: 'cart_id',
    exitWhen: [{ event: 'Order Completed' }],
  });
  // Keyed on a product id: with the long flow id, the journey id passes the server's limit.
  await h.putFlow('recommendations-for-viewers-of-expensive-products', {
    ...remindLater('Product Viewed'),
    journeyKey: 'product_id',
  });
  await h.putFlow('welcome', remindLater('Signed Up'));
  await h.putFlow('tour', remindLater('Signed Up'));
}, 120_000);
afterAll(() => h?.stop());

function remindLater(trigger: string): FlowInput {
  return {
    name: trigger,
    status: 'live',
    trigger: { event: trigger },
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '1 day' },
      { id: 'reminder', type: 'email', subject: 'Still there?', html: '<p>Hello</p>' },
    ],
  };
}

const newContact = () => `c-${randomUUID().slice(0, 8)}`;

async function track(userId: string, event: string, properties: Record<string, unknown> = {}) {
  const res = await h.http('post', '/v1/track').send({ userId, event, properties, traits: {} });
  expect(res.status).toBe(200);
  return res.body as { eventId: number; routing: string; journeys: RoutingResult };
}

async function routed(eventId: number): Promise<{ result: RoutingResult; error: string | null }> {
  return waitFor(
    async () => {
      const event = await getEvent(h.db, eventId);
      return event?.routedAt ? { result: event.routingResult as RoutingResult, error: event.routingError } : undefined;
    },
    `event ${eventId} to be routed`,
    30_000,
  );
}

/** The journey heard the order: it exited on the signal. */
async function expectExitedOnOrder(workflowId: string): Promise<void> {
  const result = await h.env.client.workflow.getHandle(workflowId).result();
  expect(result.exit).toMatchObject({ reason: 'flow_filter', detectedBy: 'signal' });
}

interface DeadLetterBody {
  id: number;
  eventId: number;
  kind: string;
  flowId: string;
  error: string;
  resolvedAt: string | null;
}

async function deadLetters(state = 'open'): Promise<{ open: number; deadLetters: DeadLetterBody[] }> {
  const res = await h.http('get', `/v1/routing/dead-letters?state=${state}`);
  expect(res.status).toBe(200);
  return res.body;
}

test('short journey keys keep their workflow ids; long ones are hashed into a bounded id', () => {
  expect(journeyWorkflowId('cart', 'c1', 'abc-123')).toBe('journey:cart:c1:abc-123');
  const long = journeyWorkflowId('cart', 'c1', 'x'.repeat(1200));
  expect(long.length).toBeLessThan(MAX_ID);
  expect(long).not.toBe(journeyWorkflowId('cart', 'c1', `${'x'.repeat(1199)}y`));
});

test('a 1,200-character cart id starts its journey, keeps the readable key, and the order ends it', async () => {
  const contact = newContact();
  const cartId = `cart-${'9'.repeat(1195)}`;
  const checkout = await track(contact, 'Checkout Started', { cart_id: cartId });
  expect(checkout.routing).toBe('done');
  expect(checkout.journeys.started).toEqual([expect.objectContaining({ flowId: 'cart' })]);
  const [{ workflowId }] = checkout.journeys.started as { workflowId: string }[];
  expect(workflowId).toBe(journeyWorkflowId('cart', contact, cartId));
  const description = await h.env.client.workflow.getHandle(workflowId).describe();
  expect((await description.memo)?.journeyKey).toBe(cartId);

  const order = await track(contact, 'Order Completed', { cart_id: cartId });
  expect(order.journeys.signalled).toEqual([{ flowId: 'cart', workflowId }]);
  await expectExitedOnOrder(workflowId);
});

test("a start Temporal refuses is dead-lettered with Temporal's message; the contact's next order still ends its journey", async () => {
  const contact = newContact();
  const checkout = await track(contact, 'Checkout Started', { cart_id: 'c-1' });
  const cartJourney = journeyWorkflowId('cart', contact, 'c-1');
  expect(checkout.journeys.started).toEqual([expect.objectContaining({ workflowId: cartJourney })]);

  // The poison and the order in one batch: routed in the background, in order per contact.
  const productId = `p-${'7'.repeat(40)}`;
  const batch = await h.http('post', '/v1/batch').send({
    batch: [
      { type: 'track', userId: contact, event: 'Product Viewed', properties: { product_id: productId } },
      { type: 'track', userId: contact, event: 'Order Completed', properties: { cart_id: 'c-1' } },
    ],
  });
  expect(batch.status).toBe(200);
  const [poisonId, orderId] = (batch.body.results as { eventId: number }[]).map((i) => i.eventId);

  const poison = await routed(poisonId);
  expect(poison.result.failed).toEqual([
    expect.objectContaining({
      kind: 'start',
      flowId: 'recommendations-for-viewers-of-expensive-products',
      refused: true,
      error: expect.stringContaining('WorkflowId exceeds maximum allowed length'),
    }),
  ]);
  expect(poison.error).toContain('WorkflowId exceeds maximum allowed length');
  expect((await routed(orderId)).result.signalled).toEqual([{ flowId: 'cart', workflowId: cartJourney }]);
  await expectExitedOnOrder(cartJourney);

  const { deadLetters: open } = await deadLetters();
  const letter = open.find((l) => l.eventId === poisonId);
  expect(letter).toMatchObject({
    kind: 'start',
    flowId: 'recommendations-for-viewers-of-expensive-products',
    error: expect.stringContaining('WorkflowId exceeds maximum allowed length'),
    resolvedAt: null,
  });
  // Still refused: the letter stays open with Temporal's words.
  const retry = await h.http('post', `/v1/routing/dead-letters/${letter?.id}/retry`);
  expect(retry.status).toBe(200);
  expect(retry.body).toMatchObject({
    resolved: false,
    error: expect.stringContaining('exceeds maximum allowed length'),
  });
  expect((await deadLetters()).deadLetters.filter((l) => l.eventId === poisonId)).toHaveLength(1);
});

/** Stored as a request stores it: nothing routes it but the test. */
async function store(contactId: string, name: string): Promise<StoredEvent> {
  await upsertContact(h.db, contactId, { email: `${contactId}@example.com` });
  const occurredAt = new Date().toISOString();
  const messageId = randomUUID();
  return (
    await insertEvent(h.db, { messageId, type: 'track', contactId, name, occurredAt }, { routeWithinMs: 600_000 })
  ).event;
}

test('an event failing within its budget is retried, then dead-lettered for its flow only; a retry routes it', async () => {
  const contact = newContact();
  const signUp = await store(contact, 'Signed Up');
  // Another router is deciding the welcome entry and never finishes (it hangs, but holds its
  // claim fresh): the welcome part cannot be routed; the tour part can.
  const holdClaim = () =>
    h.db.query(
      `INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ('welcome', $1, $2, $3)
       ON CONFLICT (flow_id, trigger_event_id) DO UPDATE SET claimed_at = now()`,
      [signUp.id, contact, journeyWorkflowId('welcome', contact)],
    );
  const deps = { db: h.db, workflows: h.env.client.workflow, log: h.log, routingFailureBudget: 2 };

  await holdClaim();
  expect(await routeStored(deps, signUp)).toEqual({ routing: 'deferred' });
  const afterFirst = await getEvent(h.db, signUp.id);
  expect(afterFirst).toMatchObject({ routedAt: null, routingError: expect.stringContaining('another router') });
  // The part that could be routed was, once: the tour journey runs.
  await h.env.client.workflow.getHandle(journeyWorkflowId('tour', contact)).describe();

  await holdClaim();
  const second = await routeStored(deps, signUp);
  expect(second.routing).toBe('done');
  expect(second.journeys?.failed).toEqual([
    expect.objectContaining({ kind: 'start', flowId: 'welcome', error: expect.stringContaining('another router') }),
  ]);
  expect(second.journeys?.started).toEqual([expect.objectContaining({ flowId: 'tour' })]);
  const letter = (await deadLetters()).deadLetters.find((l) => l.eventId === signUp.id);
  expect(letter).toMatchObject({ kind: 'start', flowId: 'welcome' });

  // The contact's next event is not held behind it.
  const next = await track(contact, 'Page Viewed');
  expect(next.routing).toBe('done');

  const retry = await h.http('post', `/v1/routing/dead-letters/${letter?.id}/retry`);
  expect(retry.status).toBe(200);
  expect(retry.body).toMatchObject({
    resolved: true,
    routing: { started: [expect.objectContaining({ flowId: 'welcome' })] },
  });
  await h.env.client.workflow.getHandle(journeyWorkflowId('welcome', contact)).describe();
  expect((await deadLetters()).deadLetters.find((l) => l.id === letter?.id)).toBeUndefined();
  expect((await deadLetters('all')).deadLetters.find((l) => l.id === letter?.id)?.resolvedAt).not.toBeNull();
  expect((await h.http('post', '/v1/routing/dead-letters/999999999/retry')).status).toBe(404);
});

test('an unknown namespace is an outage: the order waits, uncounted, and is never recorded as refused', async () => {
  const contact = newContact();
  const checkout = await track(contact, 'Checkout Started', { cart_id: 'c-2' });
  const cartJourney = journeyWorkflowId('cart', contact, 'c-2');
  expect(checkout.journeys.started).toEqual([expect.objectContaining({ workflowId: cartJourney })]);
  const order = await store(contact, 'Order Completed');
  await h.db.query(`UPDATE events SET properties = '{"cart_id":"c-2"}' WHERE id = $1`, [order.id]);
  const elsewhere = new Client({ connection: h.env.connection, namespace: 'no-such-namespace' }).workflow;
  const log = h.log;

  expect(await routeStored({ db: h.db, workflows: elsewhere, log, routingFailureBudget: 1 }, order)).toEqual({
    routing: 'deferred',
  });
  const { rows } = await h.db.query<{ routing_failures: number; routed_at: Date | null }>(
    'SELECT routing_failures, routed_at FROM events WHERE id = $1',
    [order.id],
  );
  expect(rows[0]).toEqual({ routing_failures: 0, routed_at: null });
  expect((await deadLetters()).deadLetters.filter((l) => l.eventId === order.id)).toEqual([]);

  // Back on the right namespace, the journey hears the order.
  const stored = (await getEvent(h.db, order.id)) as StoredEvent;
  expect((await routeStored({ db: h.db, workflows: h.env.client.workflow, log }, stored)).routing).toBe('done');
  await expectExitedOnOrder(cartJourney);
});

test('an order tracked right after a batched checkout still being routed ends the journey', async () => {
  const contact = newContact();
  // The checkout as a batch leaves it: stored, its routing under way in the background.
  const checkout = await store(contact, 'Checkout Started');
  await h.db.query(`UPDATE events SET properties = '{"cart_id":"c-3"}' WHERE id = $1`, [checkout.id]);
  h.startRouter();
  try {
    const order = await track(contact, 'Order Completed', { cart_id: 'c-3' });
    // Not routed ahead of the checkout: it would have found no journey to end.
    expect(order.routing).toBe('deferred');
    const [outcome] = await routeStoredMany({ db: h.db, workflows: h.env.client.workflow, log: h.log }, [
      (await getEvent(h.db, checkout.id)) as StoredEvent,
    ]);
    expect(outcome.journeys?.started).toEqual([expect.objectContaining({ flowId: 'cart' })]);
    expect((await routed(order.eventId)).result.signalled).toEqual([
      { flowId: 'cart', workflowId: journeyWorkflowId('cart', contact, 'c-3') },
    ]);
    await expectExitedOnOrder(journeyWorkflowId('cart', contact, 'c-3'));
  } finally {
    await h.stopRouter();
  }
});

test("with Temporal down, a tracked click redirects at once and SendGrid's array is stored; both are routed once it is back", async () => {
  await h.putFlow('offer', {
    ...remindLater('Offer Sent'),
    tracking: { opens: true, clicks: true },
    steps: [
      { id: 'offer', type: 'email', subject: 'Offer', html: '<p><a href="https://shop.example.com/offer">See</a></p>' },
      { id: 'wait-click', type: 'wait_for_event', event: 'Email Clicked', timeout: '3 days', onTimeout: 'end' },
      { id: 'clicked', type: 'email', subject: 'Glad you liked it', html: '<p>Thanks</p>', transactional: true },
      { id: 'end', type: 'exit' },
    ],
  });
  const contact = newContact();
  const address = `${contact}@example.com`;
  await h.identify(contact, { email: address });
  await track(contact, 'Offer Sent');
  const sent = await waitFor(async () => h.sendgrid.emails.find((e) => e.to === address), 'the offer email');
  const link = (/href="(https:\/\/parcours\.test\/t\/c\/[^"]+)"/.exec(sent.html) ?? [])[1];
  const { rows } = await h.db.query<{ id: string }>('SELECT id FROM messages WHERE contact_id = $1', [contact]);
  const messageId = rows[0].id;

  const proxy = new TemporalProxy();
  const connection = await Connection.connect({ address: await proxy.start(h.env.address) });
  try {
    proxy.down();
    const app = h.appUsing(new Client({ connection }).workflow);

    const started = Date.now();
    const click = await supertest(app).get(link.replace(TEST_LINKS.publicUrl, ''));
    expect(click.status).toBe(302);
    expect(click.headers.location).toBe('https://shop.example.com/offer');
    expect(Date.now() - started).toBeLessThan(1_000);

    const body = JSON.stringify([
      sgEvent(messageId, 'delivered'),
      sgEvent(messageId, 'open'),
      { ...sgEvent(messageId, 'open'), parcours_message_id: undefined },
    ]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + body), SENDGRID_WEBHOOK_KEYS.privateKey);
    const webhook = await supertest(app)
      .post('/v1/webhooks/sendgrid')
      .set('content-type', 'application/json')
      .set('X-Twilio-Email-Event-Webhook-Signature', signature.toString('base64'))
      .set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp)
      .send(body);
    expect(webhook.status).toBe(200);
    expect(webhook.body).toMatchObject({ received: 3, recorded: 2, not_ours: 1 });

    // Every fact is stored, none is routed yet: Temporal is down.
    const facts = await h.db.query<{ type: string }>(
      'SELECT type FROM message_events WHERE message_id = $1 ORDER BY type',
      [messageId],
    );
    expect(facts.rows.map((r) => r.type)).toEqual(['click', 'delivered', 'open']);
    const clicked = await h.db.query<{ routed_at: Date | null }>(
      "SELECT routed_at FROM events WHERE contact_id = $1 AND name = 'Email Clicked'",
      [contact],
    );
    expect(clicked.rows).toEqual([{ routed_at: null }]);
    // The background attempts through the dead proxy give up (an outage, left to the loop)
    // before their connection is closed.
    await waitFor(
      async () =>
        (
          await h.db.query(
            'SELECT 1 FROM events WHERE contact_id = $1 AND routed_at IS NULL AND routing_error IS NULL',
            [contact],
          )
        ).rowCount === 0 || undefined,
      'the background routing attempts to give up',
      30_000,
    );
  } finally {
    await proxy.stop();
    await connection.close();
  }

  // Temporal is back for the router loop: the journey hears the click.
  h.startRouter();
  try {
    await waitFor(
      async () => h.sendgrid.emails.find((e) => e.to === address && e.subject === 'Glad you liked it'),
      'the journey to hear the click',
      60_000,
    );
  } finally {
    await h.stopRouter();
  }
}, 120_000);

/** A SendGrid event as the Event Webhook documents it, with our custom args at the top level. */
function sgEvent(messageId: string, event: string): Record<string, unknown> {
  return {
    email: 'x@example.com',
    timestamp: Math.floor(Date.now() / 1000),
    event,
    sg_event_id: `${event}-${randomUUID()}`,
    sg_message_id: 'sg-msg.filter0001',
    parcours_message_id: messageId,
  };
}
