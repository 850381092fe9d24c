/** Requests per key: 429 with Retry-After over the limit, and Segment's library waits and resends. */
import type { AddressInfo } from 'node:net';
import { Analytics } from '@segment/analytics-node';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { rateLimit } from '../api/middleware/rate-limit';
import type { RateLimits } from '../api/middleware/rate-limit';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS, WRITE_KEY } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const appWith = (rateLimits: RateLimits) =>
  createApp({
    db: h.db,
    workflows: h.env.client.workflow,
    log: h.log,
    apiKeys: [API_KEY],
    writeKeys: [WRITE_KEY],
    rateLimits,
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });

const track = (app: ReturnType<typeof createApp>, key: string, messageId: string) =>
  supertest(app)
    .post('/v1/track')
    .set('Authorization', `Bearer ${key}`)
    .send({ userId: 'limited', event: 'Viewed', messageId });

const storedCount = async (messageIds: string[]) =>
  (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE message_id = ANY($1)', [messageIds]))
    .rows[0]!.n;

test('past the burst: 429 rate_limited with Retry-After in whole seconds, nothing stored; other keys unaffected', async () => {
  const app = appWith({ write: { perSecond: 0.2, burst: 2 }, admin: { perSecond: 100, burst: 100 } });
  expect((await track(app, WRITE_KEY, 'rl-1')).status).toBe(200);
  expect((await track(app, WRITE_KEY, 'rl-2')).status).toBe(200);
  const over = await track(app, WRITE_KEY, 'rl-3');
  expect(over.status).toBe(429);
  expect(over.body.error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('retry in 5 s') });
  // One token comes back every 5 s at 0.2 per second.
  expect(over.headers['retry-after']).toBe('5');
  expect(await storedCount(['rl-1', 'rl-2', 'rl-3'])).toBe(2);
  // The admin key has its own bucket, and admin routes are limited by it too.
  expect((await track(app, API_KEY, 'rl-admin')).status).toBe(200);
  expect((await supertest(app).get('/v1/flows').set('Authorization', `Bearer ${API_KEY}`)).status).toBe(200);
});

test('admin keys have their own limit, on admin routes too', async () => {
  const app = appWith({ write: { perSecond: 0, burst: 1 }, admin: { perSecond: 1, burst: 1 } });
  const flows = () => supertest(app).get('/v1/flows').set('Authorization', `Bearer ${API_KEY}`);
  expect((await flows()).status).toBe(200);
  const over = await flows();
  expect([over.status, over.headers['retry-after']]).toEqual([429, '1']);
  // perSecond 0: write keys are not limited.
  for (let i = 0; i < 5; i++) expect((await track(app, WRITE_KEY, `rl-free-${i}`)).status).toBe(200);
});

test('requests without a valid key are answered 401 and do not use up any bucket', async () => {
  const app = appWith({ write: { perSecond: 0.1, burst: 1 }, admin: { perSecond: 0.1, burst: 1 } });
  for (let i = 0; i < 5; i++) expect((await track(app, 'not-a-key', `rl-bad-${i}`)).status).toBe(401);
  expect((await supertest(app).post('/v1/track').send({ userId: 'x', event: 'Y' })).status).toBe(401);
  expect((await track(app, WRITE_KEY, 'rl-after-bad')).status).toBe(200);
  expect((await track(app, API_KEY, 'rl-after-bad-admin')).status).toBe(200);
});

test('the bucket refills at the configured rate, Retry-After never below 1 s', () => {
  let now = 0;
  const limiter = rateLimit({ write: { perSecond: 4, burst: 2 }, admin: { perSecond: 0, burst: 1 } }, () => now);
  const answer = () => {
    const headers: Record<string, string> = {};
    let outcome: unknown = 'passed';
    const res = {
      locals: { apiKey: { kind: 'write' as const, id: 'k' } },
      set: (name: string, value: string) => void (headers[name] = value),
    };
    limiter(
      {} as never,
      res as never,
      (err?: unknown) => void (outcome = err === undefined ? 'passed' : (err as { status: number }).status),
    );
    return [outcome, headers['Retry-After']];
  };
  expect([answer(), answer(), answer()]).toEqual([
    ['passed', undefined],
    ['passed', undefined],
    [429, '1'],
  ]);
  now += 250; // one token back at 4 per second
  expect([answer(), answer()]).toEqual([
    ['passed', undefined],
    [429, '1'],
  ]);
  now += 10_000; // never more than the burst
  expect([answer(), answer(), answer()]).toEqual([
    ['passed', undefined],
    ['passed', undefined],
    [429, '1'],
  ]);
});

test("Segment's analytics-node, over the limit: it backs off on 429 and every event is stored exactly once", async () => {
  const app = appWith({ write: { perSecond: 2, burst: 2 }, admin: { perSecond: 100, burst: 100 } });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    // flushAt 1: each call is its own request, all at once.
    const analytics = new Analytics({
      writeKey: WRITE_KEY,
      host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      flushAt: 1,
      maxRetries: 3,
    });
    const statuses: number[] = [];
    const errors: unknown[] = [];
    analytics.on('http_response', (response) => statuses.push(response.status));
    analytics.on('error', (err) => errors.push(err));
    const messageIds = Array.from({ length: 8 }, (_, i) => `rl-segment-${i}`);
    for (const messageId of messageIds) analytics.track({ userId: 'rl-segment', event: 'Product Viewed', messageId });
    await analytics.closeAndFlush({ timeout: 30_000 });

    expect(errors).toEqual([]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200)).toHaveLength(8);
    const stored = await h.db.query<{ message_id: string; n: number }>(
      'SELECT message_id, count(*)::int AS n FROM events WHERE message_id = ANY($1) GROUP BY message_id ORDER BY message_id',
      [messageIds],
    );
    expect(stored.rows).toEqual([...messageIds].sort().map((message_id) => ({ message_id, n: 1 })));
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}, 60_000);
