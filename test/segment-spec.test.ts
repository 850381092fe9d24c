/**
 * The whole Segment spec at the HTTP edge, as real clients send it: every call type at its
 * path and at analytics.js's short path, gzip, form and text/plain bodies, nulls, ids past
 * 2^53, clock skew, batches stored in one transaction with each item's outcome, anonymous to
 * known, CORS for browsers, and the contact's timeline. Real Postgres and Temporal (harness).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import pino from 'pino';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS, WRITE_KEY } from './helpers/harness';

let h: Harness;
let server: http.Server;

beforeAll(async () => {
  h = await Harness.start();
  server = h.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  await h.putFlow('pricing-visit', {
    name: 'Pricing page visit',
    status: 'live',
    trigger: { event: 'Page Viewed', where: [{ property: 'url', op: 'contains', value: '/pricing' }] },
    steps: [{ id: 'wait', type: 'delay', duration: '2 days' }],
  });
  await h.putFlow('lead-score', {
    name: 'Hot lead',
    status: 'live',
    trigger: { profileChange: { profile: { property: 'lead_score', op: 'gte', value: 50 } } },
    steps: [{ id: 'wait', type: 'delay', duration: '2 days' }],
  });
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await h?.stop();
});

/** Compressed bodies go over plain HTTP, byte for byte as a client library sends them. */
function rawPost(
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    const all = { authorization: `Bearer ${API_KEY}`, 'content-length': String(body.length), ...headers };
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }),
      );
    });
    // The server may answer (413) before it read everything: that is not a failure here.
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
    );
    req.end(body);
  });
}

const post = (path: string) => h.http('post', path);
const rows = async (sql: string, params: unknown[] = []) => (await h.db.query(sql, params)).rows;
const eventsOf = (contactId: string) =>
  rows('SELECT type, name, properties, context, occurred_at FROM events WHERE contact_id = $1 ORDER BY id', [
    contactId,
  ]);
const journeysOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${encodeURIComponent(contactId)}/journeys`)).body.journeys as {
    flowId: string;
    status: string;
  }[];

describe('every call type, at /v1/<type> and at the short path', () => {
  test.each([
    ['/v1/track', '/v1/t'],
    ['/v1/identify', '/v1/i'],
    ['/v1/page', '/v1/p'],
    ['/v1/screen', '/v1/s'],
    ['/v1/group', '/v1/g'],
    ['/v1/alias', '/v1/a'],
  ])('%s and %s', async (long, short) => {
    for (const path of [long, short]) {
      const user = `calls-${path.replaceAll('/', '_')}`;
      const body = {
        '/v1/track': { userId: user, event: 'Product Viewed', properties: { sku: 'a' } },
        '/v1/t': { userId: user, event: 'Product Viewed', properties: { sku: 'a' } },
        '/v1/identify': { userId: user, traits: { email: `${user}@example.com` } },
        '/v1/i': { userId: user, traits: { email: `${user}@example.com` } },
        '/v1/page': { userId: user, name: 'Pricing', category: 'Docs', properties: { url: 'https://shop.test/about' } },
        '/v1/p': { userId: user, name: 'Pricing', category: 'Docs', properties: { url: 'https://shop.test/about' } },
        '/v1/screen': { userId: user, name: 'Cart', properties: { items: 2 } },
        '/v1/s': { userId: user, name: 'Cart', properties: { items: 2 } },
        '/v1/group': { userId: user, groupId: 'acme', traits: { plan: 'pro' } },
        '/v1/g': { userId: user, groupId: 'acme', traits: { plan: 'pro' } },
        '/v1/alias': { userId: user, previousId: `${user}-visitor` },
        '/v1/a': { userId: user, previousId: `${user}-visitor` },
      }[path];
      const res = await post(path).send(body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ contactId: user, duplicate: false });
      const [stored] = await eventsOf(user);
      if (long === '/v1/track')
        expect(stored).toMatchObject({ type: 'track', name: 'Product Viewed', properties: { sku: 'a' } });
      if (long === '/v1/identify')
        expect((await h.http('get', `/v1/contacts/${user}`)).body.email).toBe(`${user}@example.com`);
      if (long === '/v1/page')
        expect(stored).toMatchObject({
          type: 'track',
          name: 'Page Viewed',
          properties: { url: 'https://shop.test/about', name: 'Pricing', category: 'Docs' },
        });
      if (long === '/v1/screen')
        expect(stored).toMatchObject({ type: 'track', name: 'Screen Viewed', properties: { items: 2, name: 'Cart' } });
      if (long === '/v1/group') {
        expect(stored).toMatchObject({ type: 'group', properties: { groupId: 'acme', traits: { plan: 'pro' } } });
        expect((await h.http('get', `/v1/contacts/${user}/groups`)).body.groups).toEqual([
          expect.objectContaining({ groupId: 'acme', traits: { plan: 'pro' } }),
        ]);
      }
      if (long === '/v1/alias') {
        expect(stored).toMatchObject({ type: 'alias', properties: { previousId: `${user}-visitor`, userId: user } });
        expect(
          await rows('SELECT contact_id FROM contact_aliases WHERE alias_id = $1', [`anonymous:${user}-visitor`]),
        ).toEqual([{ contact_id: user }]);
      }
    }
  });

  test("a group's traits merge over what the group had; groups of an unknown contact are a 404", async () => {
    await post('/v1/g').send({ userId: 'grp-1', groupId: 'acme', traits: { plan: 'pro', seats: 3 } });
    await post('/v1/batch').send({
      batch: [
        { type: 'group', userId: 'grp-1', groupId: 'acme', traits: { seats: 5 } },
        { type: 'group', userId: 'grp-1', groupId: 'beta', traits: {} },
      ],
    });
    const res = await h.http('get', '/v1/contacts/grp-1/groups');
    expect(res.body.groups.map((g: { groupId: string; traits: object }) => [g.groupId, g.traits])).toEqual([
      ['acme', { plan: 'pro', seats: 5 }],
      ['beta', {}],
    ]);
    expect((await h.http('get', '/v1/contacts/nobody/groups')).status).toBe(404);
  });

  test('a call without its required field is a 400 naming it, with code and message also at the top level', async () => {
    const res = await post('/v1/group').send({ userId: 'g-missing' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'invalid_request',
      message: expect.any(String),
      error: { code: 'invalid_request', issues: [expect.objectContaining({ path: ['groupId'] })] },
    });
    const alias = await post('/v1/a').send({ previousId: 'x' });
    expect(alias.body.error.issues).toEqual([expect.objectContaining({ path: ['userId'] })]);
  });
});

describe('a flow triggered by page views', () => {
  test('a page view of /pricing starts the journey; one of /about does not', async () => {
    const about = await post('/v1/p').send({
      anonymousId: 'visitor-1',
      properties: { url: 'https://shop.test/about' },
    });
    expect(about.body.journeys.started).toEqual([]);
    const pricing = await post('/v1/p').send({
      anonymousId: 'visitor-1',
      name: 'Pricing',
      properties: { url: 'https://shop.test/pricing?plan=pro' },
    });
    expect(pricing.status).toBe(200);
    expect(pricing.body.journeys.started).toEqual([
      expect.objectContaining({ flowId: 'pricing-visit', workflowId: 'journey:pricing-visit:anonymous:visitor-1' }),
    ]);
    expect((await h.journey('pricing-visit', 'anonymous:visitor-1').describe()).status.name).toBe('RUNNING');
  });

  test('the url taken from context.page when the properties lack it (analytics.js), also through a batch', async () => {
    const res = await post('/v1/batch').send({
      batch: [
        {
          type: 'page',
          userId: 'page-batch',
          context: { page: { url: 'https://shop.test/pricing', path: '/pricing' } },
        },
      ],
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () => (await journeysOf('page-batch')).some((j) => j.flowId === 'pricing-visit'),
      'the pricing journey from a batch',
    );
  });
});

describe('bodies as real clients send them', () => {
  test('gzip and deflate', async () => {
    for (const [encoding, zip] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
    ] as const) {
      const res = await rawPost(
        '/v1/track',
        { 'content-type': 'application/json', 'content-encoding': encoding },
        zip(Buffer.from(JSON.stringify({ userId: `zip-${encoding}`, event: 'Zipped' }))),
      );
      expect(res.status).toBe(200);
      expect(await eventsOf(`zip-${encoding}`)).toEqual([expect.objectContaining({ name: 'Zipped' })]);
    }
  });

  test('RudderStack: gzip JSON labelled application/x-www-form-urlencoded', async () => {
    const body = gzipSync(
      Buffer.from(
        JSON.stringify({
          batch: [{ type: 'track', userId: 'rudder-1', event: 'Form Labelled', messageId: 'rudder-m1' }],
          sentAt: new Date().toISOString(),
        }),
      ),
    );
    const res = await rawPost(
      '/v1/batch',
      { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' },
      body,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 1, rejected: 0 });
  });

  test('sendBeacon: text/plain with the write key in the body and no Authorization header; the key is not stored', async () => {
    const res = await supertest(h.app)
      .post('/v1/t')
      .set('content-type', 'text/plain;charset=UTF-8')
      .send(JSON.stringify({ writeKey: WRITE_KEY, anonymousId: 'beacon-1', event: 'Beacon Sent' }));
    expect(res.status).toBe(200);
    const [stored] = await eventsOf('anonymous:beacon-1');
    expect(JSON.stringify(stored)).not.toContain(WRITE_KEY);
  });

  test("analytics.js's batching strategy: a text/plain batch with the write key posted to /v1/b", async () => {
    const res = await supertest(h.app)
      .post('/v1/b')
      .set('content-type', 'text/plain')
      .send(
        JSON.stringify({
          writeKey: WRITE_KEY,
          sentAt: new Date().toISOString(),
          batch: [
            {
              type: 'page',
              anonymousId: 'batching-1',
              messageId: 'batching-m1',
              properties: { url: 'https://shop.test/' },
            },
            { type: 'track', anonymousId: 'batching-1', messageId: 'batching-m2', event: 'Product Viewed' },
          ],
        }),
      );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 2, rejected: 0 });
    expect((await eventsOf('anonymous:batching-1')).map((e) => e.name)).toEqual(['Page Viewed', 'Product Viewed']);
  });

  test('no content type at all', async () => {
    const res = await supertest(h.app)
      .post('/v1/track')
      .set('authorization', `Bearer ${API_KEY}`)
      .unset('content-type')
      .send(Buffer.from(JSON.stringify({ userId: 'no-type', event: 'Untyped' })));
    expect(res.status).toBe(200);
  });

  test('null for every optional field, as the Python library sends it', async () => {
    const res = await post('/v1/batch').send({
      batch: [
        {
          type: 'identify',
          userId: 'py-1',
          anonymousId: null,
          traits: { email: 'py@example.com' },
          context: { traits: null, ip: null },
          timestamp: null,
          integrations: null,
        },
        {
          type: 'track',
          userId: 'py-1',
          anonymousId: null,
          event: 'Python Event',
          properties: null,
          messageId: null,
          timestamp: null,
          context: null,
        },
      ],
      context: null,
      sentAt: null,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 2, rejected: 0 });
    expect(await eventsOf('py-1')).toEqual([
      expect.objectContaining({ type: 'identify' }),
      expect.objectContaining({ name: 'Python Event', properties: {} }),
    ]);
  });

  test('ids past 2^53 are kept exactly; small numeric ids become their decimal string', async () => {
    const res = await post('/v1/track')
      .set('content-type', 'application/json')
      .send('{"userId": 123456789012345678901234, "event": "Big Id", "properties": {"order_id": 9007199254740993}}');
    expect(res.status).toBe(200);
    expect(res.body.contactId).toBe('123456789012345678901234');
    const [stored] = await eventsOf('123456789012345678901234');
    expect(stored.properties.order_id).toBe('9007199254740993');
    const small = await post('/v1/identify')
      .set('content-type', 'application/json')
      .send('{"userId": 42, "traits": {}}');
    expect(small.body.contactId).toBe('42');
  });

  test("sentAt corrects the client's clock (timestamp + receivedAt - sentAt), per item or from the batch", async () => {
    const hour = 3_600_000;
    const now = Date.now();
    // A device whose clock runs an hour ahead: the event happened 5 minutes ago, real time.
    const single = await post('/v1/track').send({
      userId: 'skew-1',
      event: 'Skewed',
      timestamp: new Date(now + hour - 300_000).toISOString(),
      sentAt: new Date(now + hour).toISOString(),
    });
    expect(single.status).toBe(200);
    const batch = await post('/v1/batch').send({
      sentAt: new Date(now - hour).toISOString(),
      batch: [
        { type: 'track', userId: 'skew-2', event: 'Skewed', timestamp: new Date(now - hour - 60_000).toISOString() },
      ],
    });
    expect(batch.status).toBe(200);
    // RudderStack's SDK stamps originalTimestamp, not timestamp.
    const rudder = await post('/v1/batch').send({
      sentAt: new Date(now + hour).toISOString(),
      batch: [
        {
          type: 'track',
          userId: 'skew-3',
          event: 'Skewed',
          originalTimestamp: new Date(now + hour - 120_000).toISOString(),
        },
      ],
    });
    expect(rudder.status).toBe(200);
    for (const [contact, ago] of [
      ['skew-1', 300_000],
      ['skew-2', 60_000],
      ['skew-3', 120_000],
    ] as const) {
      const [stored] = await eventsOf(contact);
      expect(Math.abs(stored.occurred_at.getTime() - (now - ago))).toBeLessThan(5_000);
    }
  });

  test('a gzip bomb stops at 500 KB inflated: 413', async () => {
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
    const res = await rawPost('/v1/batch', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, bomb);
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
  });

  test('an event over 32 KB in a batch is rejected alone', async () => {
    const res = await post('/v1/batch').send({
      batch: [
        { type: 'track', userId: 'big-1', event: 'Big', properties: { blob: 'x'.repeat(40_000) } },
        { type: 'track', userId: 'big-1', event: 'Small' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { outcome: string; code?: string }) => r.code ?? r.outcome)).toEqual([
      'event_too_large',
      'stored',
    ]);
  });
});

describe('batches', () => {
  test('duplicate messageIds, within a batch and across batches, are stored once and reported as duplicates', async () => {
    const item = { type: 'track', userId: 'dup-1', event: 'Once', messageId: 'dup-m1' };
    const first = await post('/v1/batch').send({ batch: [item, item, { ...item, messageId: 'dup-m2' }] });
    expect(first.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['stored', 'duplicate', 'stored']);
    expect(first.body.results[1].eventId).toBe(first.body.results[0].eventId);
    const again = await post('/v1/batch').send({ batch: [item] });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      stored: 0,
      duplicates: 1,
      results: [{ outcome: 'duplicate', eventId: first.body.results[0].eventId }],
    });
    expect(await rows("SELECT count(*)::int AS n FROM events WHERE message_id LIKE 'dup-m%'")).toEqual([{ n: 2 }]);
  });

  test('500 events in one transaction, in order', async () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({
      type: 'track',
      userId: `bulk-${i % 50}`,
      event: 'Bulk',
      messageId: `bulk-${i}`,
      properties: { i },
    }));
    const res = await post('/v1/batch').send({ batch });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 500, rejected: 0 });
    // One transaction: every row carries the same inserting transaction id.
    expect(
      await rows(
        "SELECT count(DISTINCT xmin::text)::int AS n, count(*)::int AS rows FROM events WHERE message_id LIKE 'bulk-%'",
      ),
    ).toEqual([{ n: 1, rows: 500 }]);
    const order = await rows(
      "SELECT (properties->>'i')::int AS i FROM events WHERE message_id LIKE 'bulk-%' ORDER BY id",
    );
    expect(order.map((r) => r.i)).toEqual(batch.map((_, i) => i));
  });

  test('an item only the database refuses is rejected alone; the others are stored', async () => {
    // A real refusal from Postgres (SQLSTATE 22023), which no edge check catches.
    await h.db.query(`CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
      IF NEW.properties ? 'poison' THEN RAISE EXCEPTION 'poisoned' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await h.db.query(
      'CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()',
    );
    try {
      const res = await post('/v1/batch').send({
        batch: [
          { type: 'track', userId: 'refused-1', event: 'Fine', messageId: 'refused-a' },
          {
            type: 'track',
            userId: 'refused-1',
            event: 'Poisoned',
            messageId: 'refused-b',
            properties: { poison: true },
          },
          { type: 'identify', userId: 'refused-1', traits: { email: 'refused@example.com' }, messageId: 'refused-c' },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['stored', 'rejected', 'stored']);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ index: 1, messageId: 'refused-b', code: 'invalid_data' }),
      ]);
      expect((await eventsOf('refused-1')).map((e) => e.name ?? e.type)).toEqual(['Fine', 'identify']);
      expect((await h.http('get', '/v1/contacts/refused-1')).body.email).toBe('refused@example.com');
    } finally {
      await h.db.query('DROP TRIGGER refuse_poison ON events; DROP FUNCTION refuse_poison()');
    }
  });

  test('several identifies of one contact in one batch: each keeps its own before/after, and the profile trigger fires once', async () => {
    const res = await post('/v1/batch').send({
      batch: [
        { type: 'identify', userId: 'lead-1', traits: { lead_score: 10 } },
        { type: 'identify', userId: 'lead-1', traits: { lead_score: 60 } },
        { type: 'identify', userId: 'lead-1', traits: { lead_score: 70 } },
      ],
    });
    expect(res.body).toMatchObject({ stored: 3 });
    const changes = (await eventsOf('lead-1')).map((e) => [
      e.context.profileChange.before?.traits.lead_score ?? null,
      e.context.profileChange.after.traits.lead_score,
    ]);
    expect(changes).toEqual([
      [null, 10],
      [10, 60],
      [60, 70],
    ]);
    await waitFor(
      async () => (await journeysOf('lead-1')).some((j) => j.flowId === 'lead-score'),
      'the lead-score journey',
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await journeysOf('lead-1')).filter((j) => j.flowId === 'lead-score')).toHaveLength(1);
  });

  test('concurrent batches on the same contacts: none waits forever, no trait is lost', async () => {
    const contacts = Array.from({ length: 10 }, (_, i) => `conc-${i}`);
    const batches = Array.from({ length: 6 }, (_, b) => ({
      // Each batch names the contacts in another order: locks are still taken in id order.
      batch: (b % 2 ? [...contacts].reverse() : contacts).map((userId) => ({
        type: 'identify',
        userId,
        traits: { [`from_${b}`]: true },
      })),
    }));
    const answers = await Promise.all(batches.map((body) => post('/v1/batch').send(body)));
    expect(answers.map((a) => a.status)).toEqual(batches.map(() => 200));
    const traits = await rows('SELECT traits FROM contacts WHERE id = ANY($1)', [contacts]);
    expect(traits).toHaveLength(10);
    for (const { traits: t } of traits)
      expect(Object.keys(t).sort()).toEqual(batches.map((_, b) => `from_${b}`).sort());
  });

  test('each rejected item is one log line with its messageId and reason, and the batch one summary line', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const app = createApp({
      db: h.db,
      workflows: h.env.client.workflow,
      log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });
    const res = await supertest(app)
      .post('/v1/batch')
      .set('authorization', `Bearer ${API_KEY}`)
      .send({
        batch: [
          { type: 'track', userId: 'log-1', event: 'Fine', messageId: 'log-ok' },
          { type: 'track', userId: 'log-1', messageId: 'log-bad' },
          { type: 'fax', userId: 'log-1', messageId: 'log-fax' },
        ],
      });
    expect(res.status).toBe(200);
    const rejected = lines.filter((l) => l.msg === 'batch item rejected');
    expect(rejected).toEqual([
      expect.objectContaining({
        index: 1,
        messageId: 'log-bad',
        code: 'invalid_request',
        issues: [expect.objectContaining({ path: ['event'] })],
      }),
      expect.objectContaining({ index: 2, messageId: 'log-fax', code: 'unsupported_type' }),
    ]);
    expect(lines.filter((l) => l.msg === 'batch stored')).toEqual([
      expect.objectContaining({ stored: 1, duplicates: 0, rejected: 2 }),
    ]);
  });

  test('a batch with nothing valid is a 400 listing every item', async () => {
    const res = await post('/v1/batch').send({ batch: [{ type: 'track', userId: 'x' }, 42] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'invalid_request', accepted: 0, rejected: 2 });
    expect(res.body.errors.map((e: { index: number }) => e.index)).toEqual([0, 1]);
  });
});

describe('anonymous to known', () => {
  test('identify with anonymousId and userId merges the visitor: earlier and later anonymous events land on the known contact', async () => {
    await post('/v1/p').send({ anonymousId: 'anon-7', properties: { url: 'https://shop.test/shoes' } });
    const identify = await post('/v1/identify').send({
      anonymousId: 'anon-7',
      userId: 'known-7',
      traits: { email: 'known7@example.com' },
    });
    expect(identify.body.contactId).toBe('known-7');
    const later = await post('/v1/track').send({ anonymousId: 'anon-7', event: 'Product Viewed' });
    expect(later.body.contactId).toBe('known-7');
    expect((await eventsOf('known-7')).map((e) => e.name ?? e.type)).toEqual([
      'Page Viewed',
      'identify',
      'Product Viewed',
    ]);
  });

  test('alias in a batch: the items after it, and before it, land on the known contact', async () => {
    const res = await post('/v1/batch').send({
      batch: [
        { type: 'track', anonymousId: 'anon-8', event: 'Before Login' },
        { type: 'alias', previousId: 'anon-8', userId: 'known-8' },
        { type: 'track', anonymousId: 'anon-8', event: 'After Login' },
      ],
    });
    expect(res.body.results.map((r: { contactId: string }) => r.contactId)).toEqual(['known-8', 'known-8', 'known-8']);
    expect((await eventsOf('known-8')).map((e) => e.name ?? e.type)).toEqual(['Before Login', 'alias', 'After Login']);
  });
});

describe('browsers: CORS on the ingestion routes only', () => {
  test('a preflight to /v1/t is answered with the origin, methods, headers and max-age', async () => {
    const res = await supertest(h.app)
      .options('/v1/t')
      .set('origin', 'https://shop.test')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'content-type');
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': 'https://shop.test',
      'access-control-allow-methods': expect.stringContaining('POST'),
      'access-control-allow-headers': expect.stringMatching(/Content-Type.*Authorization.*Content-Encoding/),
      'access-control-max-age': expect.any(String),
    });
  });

  test('a post from a page gets the allow-origin header; admin routes get none', async () => {
    const ingest = await supertest(h.app)
      .post('/v1/batch')
      .set('origin', 'https://shop.test')
      .set('content-type', 'text/plain')
      .send(
        JSON.stringify({ writeKey: WRITE_KEY, batch: [{ type: 'track', anonymousId: 'cors-1', event: 'From Page' }] }),
      );
    expect(ingest.status).toBe(200);
    expect(ingest.headers['access-control-allow-origin']).toBe('https://shop.test');
    const admin = await supertest(h.app)
      .options('/v1/flows')
      .set('origin', 'https://shop.test')
      .set('access-control-request-method', 'GET');
    expect(admin.headers['access-control-allow-origin']).toBeUndefined();
    const contact = await h.http('get', '/v1/contacts/cors-1').set('origin', 'https://shop.test');
    expect(contact.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the contact timeline', () => {
  beforeAll(async () => {
    const base = Date.parse('2026-01-01T10:00:00Z');
    await post('/v1/batch').send({
      batch: [
        {
          type: 'identify',
          userId: 'tl-1',
          traits: { email: 'tl@example.com' },
          timestamp: new Date(base).toISOString(),
        },
        ...[1, 2, 3].map((i) => ({
          type: 'track',
          userId: 'tl-1',
          event: 'Viewed',
          properties: { i },
          timestamp: new Date(base + i * 1000).toISOString(),
        })),
        { type: 'page', userId: 'tl-1', properties: { url: '/a' }, timestamp: new Date(base + 4000).toISOString() },
        // Two events at the same instant: the id orders them.
        ...[5, 6].map((i) => ({
          type: 'track',
          userId: 'tl-1',
          event: 'Same Time',
          properties: { i },
          timestamp: new Date(base + 5000).toISOString(),
        })),
      ],
    });
  });

  const page = (query: string) => h.http('get', `/v1/contacts/tl-1/events${query}`);

  test('newest first, paged by cursor without gaps or repeats', async () => {
    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await page(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(
        ...res.body.events.map(
          (e: { properties: { i?: number }; type: string; name: string | null }) => e.properties.i ?? e.name ?? e.type,
        ),
      );
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([6, 5, 'Page Viewed', 3, 2, 1, 'identify']);
    expect(pages).toBe(3);
  });

  test('filters by type (page included) and by name', async () => {
    expect((await page('?type=identify')).body.events).toHaveLength(1);
    expect((await page('?type=page')).body.events.map((e: { name: string }) => e.name)).toEqual(['Page Viewed']);
    expect((await page('?name=Viewed')).body.events).toHaveLength(3);
  });

  test('404 for an unknown contact, 400 for a bad cursor or limit', async () => {
    expect((await h.http('get', '/v1/contacts/nobody-here/events')).status).toBe(404);
    for (const query of [
      '?cursor=not-a-cursor',
      `?cursor=${Buffer.from('["x",1]').toString('base64url')}`,
      '?limit=0',
      '?limit=1000',
      '?type=fax',
    ]) {
      const res = await page(query);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    }
  });

  test('a merged anonymous id shows the known contact', async () => {
    const res = await h.http('get', '/v1/contacts/anonymous:anon-7/events');
    expect(res.status).toBe(200);
    expect(res.body.contactId).toBe('known-7');
  });
});
