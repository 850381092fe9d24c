/** The event API as an order service sees it: Segment payloads, retries, batches, errors. */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Analytics } from '@segment/analytics-node';
import { Connection, Client } from '@temporalio/client';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { routePending } from '../routing/router-loop';
import { createPool } from '../db/pool';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';
import { abandonedCart, cartProperties } from './fixtures/flows';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('abandoned-cart', abandonedCart);
});
afterAll(() => h?.stop());

const journeysOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/journeys`)).body.journeys as { status: string }[];

describe('idempotency', () => {
  test('a retried track with the same messageId is stored once and starts one journey', async () => {
    const payload = { userId: 'retry-1', event: 'Checkout Started', messageId: 'evt-123', properties: cartProperties };
    const first = await h.track(payload);
    const second = await h.track(payload);

    expect(first.duplicate).toBe(false);
    expect(second).toMatchObject({ duplicate: true, eventId: first.eventId, routing: 'done' });
    expect(second.journeys).toEqual(first.journeys);
    expect(await journeysOf('retry-1')).toHaveLength(1);
    const stored = await h.db.query("SELECT count(*)::int AS n FROM events WHERE message_id = 'evt-123'");
    expect(stored.rows[0].n).toBe(1);
  });

  test('a second Checkout Started while the journey runs does not start another', async () => {
    await h.track({ userId: 'retry-2', event: 'Checkout Started', messageId: 'a', properties: cartProperties });
    const again = await h.track({
      userId: 'retry-2',
      event: 'Checkout Started',
      messageId: 'b',
      properties: cartProperties,
    });

    expect(again.journeys.started).toEqual([]);
    expect(again.journeys.alreadyInFlow).toEqual([
      { flowId: 'abandoned-cart', workflowId: 'journey:abandoned-cart:retry-2' },
    ]);
    expect(await journeysOf('retry-2')).toHaveLength(1);
  });
});

test('a running journey whose row was lost (start answered too late) is recovered, and then hears the order', async () => {
  await h.track({ userId: 'lost-row', event: 'Checkout Started', messageId: 'lost-1', properties: cartProperties });
  await h.db.query("DELETE FROM journeys WHERE contact_id = 'lost-row'");

  const again = await h.track({
    userId: 'lost-row',
    event: 'Checkout Started',
    messageId: 'lost-2',
    properties: cartProperties,
  });
  expect(again.journeys.alreadyInFlow).toHaveLength(1);
  expect(await journeysOf('lost-row')).toMatchObject([{ status: 'running', flowVersion: 1 }]);

  const order = await h.track({ userId: 'lost-row', event: 'Order Completed' });
  expect(order.journeys.signalled).toEqual([
    { flowId: 'abandoned-cart', workflowId: 'journey:abandoned-cart:lost-row' },
  ]);
  expect((await h.result('abandoned-cart', 'lost-row')).exit).toMatchObject({
    reason: 'flow_filter',
    detectedBy: 'signal',
  });
});

describe('bad requests get a 400 with the path and the reason', () => {
  test.each([
    ['no event name', { userId: 'u', properties: {} }, ['event']],
    ['no userId or anonymousId', { event: 'Checkout Started' }, ['userId']],
    ['properties not an object', { userId: 'u', event: 'X', properties: [1, 2] }, ['properties']],
    ['timestamp not a date', { userId: 'u', event: 'X', timestamp: 'yesterday' }, ['timestamp']],
    ['empty event name', { userId: 'u', event: '' }, ['event']],
  ])('%s', async (_name, body, path) => {
    const res = await h.http('post', '/v1/track').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, message: expect.any(String) })]),
    );
  });

  test('invalid JSON', async () => {
    const res = await h.http('post', '/v1/track').set('content-type', 'application/json').send('{"userId": "u", event');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_json', message: expect.stringContaining('not valid JSON') });
  });

  test('an event over 32 KB', async () => {
    const res = await h
      .http('post', '/v1/track')
      .send({ userId: 'u', event: 'Big', properties: { blob: 'x'.repeat(33 * 1024) } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('event_too_large');
  });

  test('nothing is stored for a rejected event', async () => {
    await h.http('post', '/v1/track').send({ userId: 'never-stored', event: '' });
    expect((await h.http('get', '/v1/contacts/never-stored')).status).toBe(404);
  });

  test('an unknown route is a JSON 404', async () => {
    const res = await h.http('get', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('authentication', () => {
  test('no key: 401 with a hint', async () => {
    const res = await supertest(h.app).post('/v1/track').send({ userId: 'u', event: 'X' });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/Authorization: Bearer/);
  });

  test('a wrong key: 401', async () => {
    const res = await supertest(h.app)
      .post('/v1/track')
      .set('Authorization', 'Bearer nope')
      .send({ userId: 'u', event: 'X' });
    expect(res.status).toBe(401);
  });

  test('Basic auth with the key as user name, as Segment libraries send it; answered as Segment answers', async () => {
    const res = await supertest(h.app)
      .post('/v1/track')
      .set('Authorization', `Basic ${Buffer.from(`${API_KEY}:`).toString('base64')}`)
      .send({ userId: 'basic-user', event: 'Product Viewed' });
    // Segment's API answers 200 `{"success": true}`; libraries that take only a 200 for success
    // rely on it. Our own fields come beside it.
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, contactId: 'basic-user', duplicate: false });
  });
});

describe('identify', () => {
  test('creates the contact, then merges traits; email and phone become its addresses', async () => {
    await h.identify('ident-1', { email: 'Ident@Example.com', plan: 'free' });
    await h.identify('ident-1', { phone: '+33600000000', plan: 'pro' });
    const res = await h.http('get', '/v1/contacts/ident-1');
    expect(res.body).toMatchObject({
      id: 'ident-1',
      email: 'ident@example.com',
      phone: '+33600000000',
      traits: { plan: 'pro', email: 'Ident@Example.com' },
    });
  });

  test('track with context.traits fills the profile too', async () => {
    await h.track({
      userId: 'ctx-1',
      event: 'Product Viewed',
      context: { traits: { email: 'ctx@example.com' }, ip: '1.2.3.4' },
    });
    expect((await h.http('get', '/v1/contacts/ctx-1')).body.email).toBe('ctx@example.com');
  });
});

describe('batch', () => {
  test('valid items are stored in order, bad ones reported by index, each outcome in the answer; journeys start after', async () => {
    const res = await h.http('post', '/v1/batch').send({
      batch: [
        { type: 'identify', userId: 'batch-1', traits: { email: 'batch@example.com' }, messageId: 'b-1' },
        { type: 'track', userId: 'batch-1', event: 'Checkout Started', properties: cartProperties, messageId: 'b-2' },
        { type: 'track', userId: 'batch-1', messageId: 'b-3' },
        { type: 'alias', userId: 'batch-1', previousId: 'x', messageId: 'b-4' },
        { type: 'fax', userId: 'batch-1', messageId: 'b-5' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, accepted: 3, stored: 3, duplicates: 0, rejected: 2 });
    expect(res.body.results.map((r: { index: number; outcome: string }) => [r.index, r.outcome])).toEqual([
      [0, 'stored'],
      [1, 'stored'],
      [2, 'rejected'],
      [3, 'stored'],
      [4, 'rejected'],
    ]);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        index: 2,
        messageId: 'b-3',
        outcome: 'rejected',
        code: 'invalid_request',
        issues: [expect.objectContaining({ path: ['event'] })],
      }),
      expect.objectContaining({
        index: 4,
        messageId: 'b-5',
        outcome: 'rejected',
        code: 'unsupported_type',
        issues: [expect.objectContaining({ path: ['type'] })],
      }),
    ]);
    // Answered once stored; routed right after, in the background.
    await waitFor(async () => (await journeysOf('batch-1')).length === 1, 'the batch-1 journey');
  });

  test('a malformed envelope is a 400', async () => {
    const res = await h.http('post', '/v1/batch').send({ events: [] });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['batch']);
  });
});

test("Segment's own analytics-node library, pointed at Parcours, works unmodified", async () => {
  const server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const analytics = new Analytics({
      writeKey: API_KEY,
      host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      flushAt: 2,
      maxRetries: 0,
    });
    const errors: unknown[] = [];
    analytics.on('error', (err) => errors.push(err));
    analytics.identify({ userId: 'segment-1', traits: { email: 'segment@example.com' } });
    analytics.track({ userId: 'segment-1', event: 'Checkout Started', properties: cartProperties });
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(errors).toEqual([]);
  } finally {
    server.close();
  }
  expect((await h.http('get', '/v1/contacts/segment-1')).body.email).toBe('segment@example.com');
  await waitFor(async () => (await journeysOf('segment-1'))[0]?.status === 'running', 'the segment-1 journey');
});

describe('when a dependency is down', () => {
  test('Temporal unreachable: the event is stored, answered 200 "deferred" at once, and routed by the router loop', async () => {
    await h.stopRouter();
    const lazy = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 });
    const app = createApp({
      db: h.db,
      workflows: new Client({ connection: lazy }).workflow,
      log: h.log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });

    const res = await supertest(app)
      .post('/v1/track')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ userId: 'outage-1', event: 'Checkout Started', properties: cartProperties, messageId: 'outage-evt' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ routing: 'deferred', duplicate: false });
    expect(await journeysOf('outage-1')).toEqual([]);

    // One router pass once the retry's backoff (half a second) has passed.
    await waitFor(
      async () => (await routePending({ db: h.db, workflows: h.env.client.workflow, log: h.log })) >= 1,
      'a router pass that routes the event',
    );
    await waitFor(async () => (await journeysOf('outage-1')).length === 1, 'the journey started by the router');
    await lazy.close();
    h.startRouter();
  });

  test('Temporal hanging: /v1/track answers "deferred" within about a second, and the next requests at once', async () => {
    // Accepts connections and never answers: every call would wait for its deadline.
    const sockets: Socket[] = [];
    const blackhole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const lazy = Connection.lazy({
      address: `127.0.0.1:${(blackhole.address() as AddressInfo).port}`,
      connectTimeout: 60_000,
    });
    const app = createApp({
      db: h.db,
      workflows: new Client({ connection: lazy }).workflow,
      log: h.log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });
    const timed = async (messageId: string) => {
      const started = Date.now();
      const res = await supertest(app)
        .post('/v1/track')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ userId: 'hanging-1', event: 'Checkout Started', properties: cartProperties, messageId });
      return { res, ms: Date.now() - started };
    };
    try {
      const first = await timed('hanging-a');
      expect(first.res.status).toBe(200);
      expect(first.res.body.routing).toBe('deferred');
      expect(first.ms).toBeLessThan(2_000);
      const second = await timed('hanging-b');
      expect(second.res.body.routing).toBe('deferred');
      expect(second.ms).toBeLessThan(500);
      // The harness's router (a working Temporal) routes them: one journey, the second already in flow.
      await waitFor(async () => (await journeysOf('hanging-1')).length === 1, 'the journey started by the router');
    } finally {
      sockets.forEach((s) => s.destroy());
      blackhole.close();
      await lazy.close().catch(() => undefined);
    }
  });

  test('Postgres unreachable: 503 with Retry-After, nothing accepted', async () => {
    const deadDb = createPool('postgres://postgres@127.0.0.1:1/none');
    const app = createApp({
      db: deadDb,
      workflows: h.env.client.workflow,
      log: h.log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });
    const res = await supertest(app)
      .post('/v1/track')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ userId: 'u', event: 'X' });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error.code).toBe('unavailable');
    // A batch is one transaction: nothing of it was accepted, the client retries it whole.
    const batch = await supertest(app)
      .post('/v1/batch')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ batch: [{ type: 'track', userId: 'u', event: 'X' }] });
    expect(batch.status).toBe(503);
    expect(batch.body).toMatchObject({ code: 'unavailable', error: { code: 'unavailable' } });
    await deadDb.end();
  });
});
