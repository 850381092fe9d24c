/**
 * A Postgres that hangs (SIGSTOP: connections stay open, nothing answers), seen through a proxy
 * that stops forwarding. The pool's own timeouts are set far out of reach here, so only the
 * breaker (db/breaker.ts) can end a request: the requests caught in flight end with 503, new
 * ones get 503 within a second, tracking links still answer, and once Postgres answers again
 * everything works, nothing stored before is lost, and the clicks seen meanwhile are stored.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { claimMessage } from '../db/messages';
import { createPool, databaseBreaker, type Db } from '../db/pool';
import { PendingEngagement } from '../engagement/pending';
import { signLink } from '../sending/tokens';
import { startRouterLoop, type RouterLoop } from '../routing/router-loop';
import { waitFor } from './helpers/fake-http';
import { FreezingProxy } from './helpers/freezing-proxy';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';

// Far beyond the test's own bounds: a request that ends in time was ended by the breaker.
const OUT_OF_REACH_MS = 120_000;

let h: Harness;
let proxy: FreezingProxy;
let db: Db;
let server: Server;
let router: RouterLoop;

beforeAll(async () => {
  h = await Harness.start({ runRouter: false });
  const direct = new URL(h.database.url);
  proxy = new FreezingProxy();
  const viaProxy = new URL(h.database.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(await proxy.start(direct.hostname, Number(direct.port || 5432)));
  db = createPool(viaProxy.toString(), {
    connectionTimeoutMs: OUT_OF_REACH_MS,
    statementTimeoutMs: OUT_OF_REACH_MS,
    queryTimeoutMs: OUT_OF_REACH_MS,
  });
  const deps = { db, workflows: h.env.client.workflow, log: h.log };
  const app = createApp({ ...deps, apiKeys: [API_KEY], links: TEST_LINKS, webhooks: TEST_WEBHOOKS });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  // As the API process runs it, on the same pool.
  router = startRouterLoop(deps, { intervalMs: 100 });
});

afterAll(async () => {
  await router?.stop();
  await new Promise((resolve) => server?.close(resolve));
  await db?.end().catch(() => undefined);
  await proxy?.stop();
  await h?.stop();
});

const api = () => supertest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
const admin = (method: 'get' | 'post', path: string) => api()[method](path).set('Authorization', `Bearer ${API_KEY}`);
const track = (userId: string, messageId: string) =>
  admin('post', '/v1/track').send({ userId, event: 'Visited', messageId });

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

async function sentEmail(contactId: string): Promise<string> {
  const message = await claimMessage(
    h.db,
    {
      sendKey: `hang:${contactId}`,
      journeyRunId: `run-${contactId}`,
      flowId: 'welcome',
      flowVersion: 1,
      stepId: 'email-1',
      contactId,
      channel: 'email',
      transactional: false,
      source: 'flow',
      priority: 0,
    },
    {
      recipient: `${contactId}@example.com`,
      provider: 'sendgrid',
      content: { subject: 'Hello' },
      owner: 'test',
      leaseMs: 60_000,
      takeOver: false,
    },
  );
  if (!message) throw new Error('no message claimed');
  return message.id;
}

test('a slow query on a live Postgres is not a hang: the breaker stays closed', async () => {
  const opened = jest.fn();
  const probed = jest.fn();
  databaseBreaker(db)?.on('open', opened).on('probe', probed);
  try {
    // Long past the moment the breaker starts probing: the probe answers, so nothing opens.
    const { rows } = await db.query<{ ok: number }>('SELECT 1 AS ok FROM pg_sleep(2)');
    expect(rows).toEqual([{ ok: 1 }]);
    expect((await track('slow', 'slow-1')).status).toBe(200);
  } finally {
    databaseBreaker(db)?.off('open', opened).off('probe', probed);
  }
  // It did wonder: the query outlived the wait that starts a probe, and the probe got its answer.
  expect(probed).toHaveBeenCalledWith(true);
  expect(opened).not.toHaveBeenCalled();
});

test('a hung Postgres: 503 within a second while hung, links still answer, all back once it answers', async () => {
  expect(
    (await admin('post', '/v1/identify').send({ userId: 'ada', traits: { email: 'ada@example.com' } })).status,
  ).toBe(200);
  expect((await track('ada', 'before-1')).status).toBe(200);
  const messageId = await sentEmail('ada');
  const target = 'https://shop.example/sale?ref=mail';
  const click = signLink(TEST_LINKS.secret, { p: 'click', m: messageId, u: target });
  const open = signLink(TEST_LINKS.secret, { p: 'open', m: messageId });

  proxy.freeze();
  try {
    // Caught in flight: with the pool's timeouts out of reach, only the breaker ends them.
    const inFlight = await timed(() =>
      Promise.all([track('ada', 'during-1'), admin('get', '/v1/contacts/ada'), track('bob', 'during-2')]),
    );
    expect(inFlight.value.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(inFlight.ms).toBeLessThan(10_000);

    // Known to be hung: new requests that need the database are refused at once.
    for (const request of [
      () => track('ada', 'during-3'),
      () => admin('get', '/v1/contacts/ada'),
      () => admin('post', '/v1/identify').send({ userId: 'cy', traits: { plan: 'pro' } }),
    ]) {
      const { value: res, ms } = await timed(request);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body.error).toEqual({
        code: 'unavailable',
        message: expect.stringMatching(/database is not answering/),
      });
      expect(ms).toBeLessThan(1_000);
    }
    // Still hung past a few background probes: still refused at once.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = await timed(() => track('ada', 'during-4'));
    expect(later.value.status).toBe(503);
    expect(later.ms).toBeLessThan(1_000);
    const health = await timed(() => api().get('/health'));
    expect(health.value.status).toBe(503);
    expect(health.value.body).toMatchObject({ status: 'unavailable', postgres: { ok: false } });
    expect(health.ms).toBeLessThan(1_000);

    // Tracking links need no database to answer: the redirect target is in the signed link.
    const redirect = await timed(() => api().get(`/t/c/${click}`));
    expect(redirect.value.status).toBe(302);
    expect(redirect.value.headers.location).toBe(target);
    expect(redirect.ms).toBeLessThan(1_000);
    const pixel = await api().get(`/t/o/${open}`);
    expect(pixel.status).toBe(200);
    expect(pixel.headers['content-type']).toMatch(/image\/gif/);
  } finally {
    proxy.thaw();
  }

  // The same server answers again once the breaker's probe gets an answer.
  await waitFor(async () => (await track('ada', 'after-1')).status === 200, 'the API to accept events again');
  const contact = await admin('get', '/v1/contacts/ada');
  expect(contact.status).toBe(200);
  expect(contact.body).toMatchObject({ id: 'ada', traits: { email: 'ada@example.com' } });
  const names = async () =>
    (
      await h.db.query<{ message_id: string }>(
        `SELECT message_id FROM events WHERE contact_id = 'ada' AND name = 'Visited' ORDER BY id`,
      )
    ).rows.map((r) => r.message_id);
  expect(await names()).toEqual(expect.arrayContaining(['before-1', 'after-1']));

  // The click and the open seen while hung are stored once Postgres is back, as if live, in the order they were seen.
  const events = await waitFor(async () => {
    const { rows } = await h.db.query<{ name: string; url: string | null }>(
      `SELECT name, properties->>'url' AS url FROM events WHERE contact_id = 'ada' AND name LIKE 'Email %' ORDER BY id`,
    );
    return rows.length >= 2 ? rows : undefined;
  }, 'the click and the open seen while hung to be stored');
  expect(events).toEqual([
    { name: 'Email Clicked', url: target },
    { name: 'Email Opened', url: null },
  ]);
  const { rows: message } = await h.db.query<{ opened: boolean; clicked: boolean }>(
    'SELECT opened_at IS NOT NULL AS opened, clicked_at IS NOT NULL AS clicked FROM messages WHERE id = $1',
    [messageId],
  );
  expect(message).toEqual([{ opened: true, clicked: true }]);
});

test('while hung, opens and clicks wait in a bounded buffer: past its size they are dropped, never the process', async () => {
  const messageId = await sentEmail('bea');
  const pending = new PendingEngagement({ db, workflows: h.env.client.workflow, log: h.log }, 2);
  const urls = ['https://a.example/', 'https://b.example/', 'https://c.example/'];
  proxy.freeze();
  try {
    expect((await track('bea', 'hung-1')).status).toBe(503);
    for (const url of urls)
      await pending.record({
        message: messageId,
        sourceEventId: `click:${messageId}:${url}`,
        type: 'click',
        occurredAt: new Date().toISOString(),
        data: { url },
      });
    expect(pending.size).toBe(2);
  } finally {
    proxy.thaw();
  }
  await waitFor(() => pending.size === 0, 'the buffer to be stored');
  const { rows } = await h.db.query<{ url: string }>(
    `SELECT properties->>'url' AS url FROM events WHERE contact_id = 'bea' AND name = 'Email Clicked' ORDER BY id`,
  );
  expect(rows.map((r) => r.url)).toEqual(urls.slice(0, 2));
});
