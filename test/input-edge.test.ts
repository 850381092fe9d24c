/**
 * Bad input at the edge: what Postgres cannot store, dates it cannot hold, bodies that are not
 * JSON, nesting without end, and a database that hangs. Each is a 4xx naming the path (or a
 * 503 in seconds), never a 500; in a batch one bad item never stops the others.
 */
import net from 'node:net';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { createPool } from '../db/pool';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const track = (body: unknown) => h.http('post', '/v1/track').send(body as object);
const storedEvents = async (contactId: string) =>
  (
    await h.db.query<{ name: string }>('SELECT name FROM events WHERE contact_id = $1 ORDER BY id', [contactId])
  ).rows.map((r) => r.name);

const LONE_HIGH = '\uD83D'; // the first half of 😀, as "😀".slice(0, 1) leaves it
const deep = (levels: number): Record<string, unknown> => (levels === 0 ? { leaf: 1 } : { a: deep(levels - 1) });

describe('text Postgres cannot store is a 400 naming the path', () => {
  test.each([
    [
      'a NUL byte in a property value',
      { userId: 'nul-1', event: 'X', properties: { note: 'a\u0000b' } },
      ['properties', 'note'],
      /NUL/,
    ],
    [
      'a NUL byte in a property key',
      { userId: 'nul-2', event: 'X', properties: { 'k\u0000': 1 } },
      ['properties', 'k\u0000'],
      /NUL/,
    ],
    ['a lone surrogate in the userId', { userId: `ada${LONE_HIGH}`, event: 'X' }, ['userId'], /surrogate/],
    ['a lone surrogate in the event name', { userId: 'sur-2', event: `Cart ${LONE_HIGH}` }, ['event'], /surrogate/],
    [
      'a lone low surrogate deep in an array',
      { userId: 'sur-3', event: 'X', properties: { products: [{ name: 'ok' }, { name: '\uDE00x' }] } },
      ['properties', 'products', 1, 'name'],
      /surrogate/,
    ],
  ])('%s', async (_name, body, path, message) => {
    const res = await track(body);
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([{ path, message: expect.stringMatching(message) }]);
  });

  test('a whole emoji (a surrogate pair) is stored as it is', async () => {
    const res = await track({ userId: 'emoji', event: 'X', properties: { note: 'ok 😀' } });
    expect(res.status).toBe(200);
    const { rows } = await h.db.query<{ properties: { note: string } }>(
      'SELECT properties FROM events WHERE contact_id = $1',
      ['emoji'],
    );
    expect(rows[0].properties.note).toBe('ok 😀');
  });

  test('an identify with a NUL byte in a trait is refused and stores nothing', async () => {
    const res = await h.http('post', '/v1/identify').send({ userId: 'nul-trait', traits: { firstName: 'Ada\u0000' } });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['traits', 'firstName']);
    expect((await h.http('get', '/v1/contacts/nul-trait')).status).toBe(404);
  });
});

describe('timestamps', () => {
  test.each([
    ['year 10000', '+010000-01-01T00:00:00Z', /outside 1-9999/],
    ['year 0', '0000-06-01T00:00:00Z', /outside 1-9999/],
    ['the last hour of 9999 west of UTC, which is year 10000 in UTC', '9999-12-31T23:30:00-01:00', /outside 1-9999/],
    ['not a date', 'last tuesday', /ISO-8601/],
    ['a number in a string', '1700000000', /./],
  ])('%s: 400 naming timestamp', async (_name, timestamp, message) => {
    const res = await track({ userId: 'ts', event: 'X', timestamp });
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      expect.objectContaining({ path: ['timestamp'], message: expect.stringMatching(message) }),
    ]);
  });

  test('the first and the last representable years are accepted and stored as given', async () => {
    expect(
      (await track({ userId: 'ts-ok', event: 'First', timestamp: '0001-01-01T00:00:00Z', messageId: 'ts-first' }))
        .status,
    ).toBe(200);
    expect(
      (await track({ userId: 'ts-ok', event: 'Last', timestamp: '9999-12-31T23:59:59Z', messageId: 'ts-last' })).status,
    ).toBe(200);
    const { rows } = await h.db.query<{ year: number }>(
      "SELECT extract(year FROM occurred_at AT TIME ZONE 'UTC')::int AS year FROM events WHERE contact_id = 'ts-ok' ORDER BY id",
    );
    expect(rows.map((r) => r.year)).toEqual([1, 9999]);
  });
});

describe('content types and charsets', () => {
  const raw = (path: string, method: 'post' | 'put', contentType: string | undefined, body: string) => {
    const req = supertest(h.app)[method](path).set('Authorization', `Bearer ${API_KEY}`);
    return contentType === undefined ? req.send(Buffer.from(body)) : req.set('Content-Type', contentType).send(body);
  };
  const body = JSON.stringify({ userId: 'ct', event: 'X' });
  const flow = JSON.stringify({
    name: 'CT',
    trigger: { event: 'X' },
    steps: [{ id: 'w', type: 'delay', duration: '1 hour' }],
  });

  test.each([
    ['no content type', undefined, 'unsupported_media_type', /missing content type/],
    ['a form', 'application/x-www-form-urlencoded', 'unsupported_media_type', /not JSON/],
    ['XML', 'application/xml', 'unsupported_media_type', /not JSON/],
    ['an unknown charset', 'application/json; charset=latin1', 'unsupported_charset', /charset/],
    ['a charset iconv does not know', 'application/json; charset=utf-99', 'unsupported_charset', /./],
  ])('admin routes, %s: 415', async (_name, contentType, code, message) => {
    const res = await raw('/v1/flows/ct-flow', 'put', contentType, flow);
    expect(res.status).toBe(415);
    expect(res.body.error).toMatchObject({ code, message: expect.stringMatching(message) });
  });

  // Ingestion takes JSON whatever the label, as Segment's API does (RudderStack labels its
  // JSON as a form, sendBeacon sends text/plain, some clients send no type).
  test.each([
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['text/plain'],
    ['application/vnd.segment+json'],
    ['application/xml'],
    ['application/json; charset=latin1'],
    [undefined],
  ])('ingestion, %s: accepted', async (contentType) => {
    expect((await raw('/v1/track', 'post', contentType, body)).status).toBe(200);
  });

  test('ingestion, application/x-www-form-urlencoded: accepted', async () => {
    expect((await raw('/v1/track', 'post', 'application/x-www-form-urlencoded', body)).status).toBe(200);
  });

  test('ingestion, a charset iconv does not know: 415', async () => {
    const res = await raw('/v1/track', 'post', 'application/json; charset=utf-99', body);
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_charset');
  });
});

describe('nesting', () => {
  test('properties nested deeper than the limit: 400 naming where', async () => {
    const res = await track({ userId: 'deep', event: 'X', properties: deep(40) });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0]).toMatchObject({ message: 'nested deeper than 32 levels' });
    expect(res.body.error.issues[0].path.slice(0, 3)).toEqual(['properties', 'a', 'a']);
  });

  test('a body 100,000 levels deep is a 400, and the server goes on', async () => {
    const text = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const res = await supertest(h.app)
      .post('/v1/track')
      .set('Authorization', `Bearer ${API_KEY}`)
      .set('Content-Type', 'application/json')
      .send(text);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/nested too deeply/);
    expect((await track({ userId: 'after-deep', event: 'X' })).status).toBe(200);
  });
});

describe('URL parameters', () => {
  test.each([
    ['/v1/contacts/a%00b'],
    ['/v1/contacts/%ED%A0%80'],
    ['/v1/flows/%00'],
    ['/v1/flows/%00/stats'],
    ['/v1/contacts/%E0%A4%A'],
  ])('%s is a 400', async (path) => {
    const res = await h.http('get', path);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toMatch(/invalid_request|bad_request/);
  });

  test('a version number beyond integer range is a 400, not a database error', async () => {
    expect((await h.http('get', '/v1/flows/any/versions/99999999999')).status).toBe(400);
  });
});

describe('/v1/batch: one bad item never stops the others', () => {
  test('invalid items are reported by index; every valid item, before and after them, is stored', async () => {
    const res = await h.http('post', '/v1/batch').send({
      batch: [
        { type: 'track', userId: 'batch-a', event: 'One', messageId: 'b-1' },
        { type: 'track', userId: 'batch-a', event: 'Two', properties: { note: 'nul\u0000' }, messageId: 'b-2' },
        { type: 'track', userId: 'batch-a', event: 'Three', messageId: 'b-3' },
        { type: 'identify', userId: `batch-${LONE_HIGH}`, traits: {}, messageId: 'b-4' },
        { type: 'track', userId: 'batch-a', event: 'Five', timestamp: '+010000-01-01T00:00:00Z', messageId: 'b-5' },
        { type: 'track', userId: 'batch-a', event: 'Six', properties: deep(40), messageId: 'b-6' },
        'not an object',
        { type: 'fax', userId: 'batch-a' },
        { type: 'track', userId: 'batch-a', event: 'Nine', messageId: 'b-9' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 3, rejected: 6 });
    expect(res.body.errors.map((e: { index: number; code: string }) => [e.index, e.code])).toEqual([
      [1, 'invalid_request'],
      [3, 'invalid_request'],
      [4, 'invalid_request'],
      [5, 'invalid_request'],
      [6, 'invalid_request'],
      [7, 'unsupported_type'],
    ]);
    expect(res.body.errors[0].issues[0].path).toEqual(['properties', 'note']);
    expect(res.body.errors[2].issues[0].path).toEqual(['timestamp']);
    expect(await storedEvents('batch-a')).toEqual(['One', 'Three', 'Nine']);
  });

  test('an item only the database refuses is reported for that item; the items after it are stored', async () => {
    // A constraint stands in for any refusal that shows only at the database.
    await h.db.query("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (name IS DISTINCT FROM 'Poison')");
    try {
      const res = await h.http('post', '/v1/batch').send({
        batch: [
          { type: 'track', userId: 'batch-db', event: 'Before', messageId: 'db-1' },
          { type: 'track', userId: 'batch-db', event: 'Poison', messageId: 'db-2' },
          { type: 'track', userId: 'batch-db', event: 'After', messageId: 'db-3' },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ accepted: 2, rejected: 1 });
      expect(res.body.errors).toEqual([expect.objectContaining({ index: 1, code: expect.any(String) })]);
      expect(await storedEvents('batch-db')).toEqual(['Before', 'After']);
      // Retrying the same batch stores nothing twice and still reports the poison item alone.
      const again = await h.http('post', '/v1/batch').send({
        batch: [
          { type: 'track', userId: 'batch-db', event: 'Before', messageId: 'db-1' },
          { type: 'track', userId: 'batch-db', event: 'Poison', messageId: 'db-2' },
          { type: 'track', userId: 'batch-db', event: 'After', messageId: 'db-3' },
        ],
      });
      expect(again.body).toMatchObject({ accepted: 2, rejected: 1 });
      expect(await storedEvents('batch-db')).toEqual(['Before', 'After']);
    } finally {
      await h.db.query('ALTER TABLE events DROP CONSTRAINT no_poison');
    }
  });

  test('a batch whose only items are invalid is a 400 that still lists each', async () => {
    const res = await h.http('post', '/v1/batch').send({ batch: [{ type: 'track', userId: 'x' }, { nope: true }] });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { index: number }) => e.index)).toEqual([0, 1]);
  });
});

describe('health and a database that hangs', () => {
  test('/health reports Postgres and Temporal', async () => {
    const res = await supertest(h.app).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', postgres: { ok: true }, temporal: { ok: true } });
  });

  test('a Postgres that accepts connections and never answers: 503 within seconds on /v1/track and /health', async () => {
    const sockets: net.Socket[] = [];
    const hung = net.createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const port = (hung.address() as net.AddressInfo).port;
    const db = createPool(`postgres://postgres@127.0.0.1:${port}/parcours`, { connectionTimeoutMs: 1_000 });
    const app = createApp({
      db,
      workflows: h.env.client.workflow,
      log: h.log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });
    try {
      let started = Date.now();
      const res = await supertest(app)
        .post('/v1/track')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ userId: 'u', event: 'X' });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(Date.now() - started).toBeLessThan(4_000);

      started = Date.now();
      const health = await supertest(app).get('/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'unavailable', postgres: { ok: false }, temporal: { ok: true } });
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => hung.close(resolve));
      await db.end().catch(() => undefined);
    }
  });

  test('a Postgres that stops answering on connections already open: 503 within seconds, and again once it answers', async () => {
    // A TCP proxy to the real server that can freeze: what a stalled server or a network
    // partition looks like from here (no RST, no FIN, just silence).
    let frozen = false;
    const sockets: net.Socket[] = [];
    const upstreamUrl = new URL(h.database.url);
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname);
      sockets.push(client, upstream);
      client.on('data', (d) => !frozen && upstream.write(d));
      upstream.on('data', (d) => !frozen && client.write(d));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const viaProxy = new URL(h.database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String((proxy.address() as net.AddressInfo).port);
    const db = createPool(viaProxy.toString(), {
      connectionTimeoutMs: 1_000,
      statementTimeoutMs: 1_000,
      queryTimeoutMs: 1_500,
    });
    const app = createApp({
      db,
      workflows: h.env.client.workflow,
      log: h.log,
      apiKeys: [API_KEY],
      links: TEST_LINKS,
      webhooks: TEST_WEBHOOKS,
    });
    const trackVia = (messageId: string) =>
      supertest(app)
        .post('/v1/track')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ userId: 'frozen', event: 'X', messageId });
    try {
      expect((await trackVia('fz-1')).status).toBe(200); // connections are open and pooled
      frozen = true;
      const started = Date.now();
      const res = await trackVia('fz-2');
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await supertest(app).get('/health')).status).toBe(503);

      frozen = false;
      await waitFor(async () => (await trackVia('fz-3')).status === 200, 'the API to accept events again');
      expect(await storedEvents('frozen')).toEqual(['X', 'X']);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => proxy.close(resolve));
      await db.end().catch(() => undefined);
    }
  });
});
