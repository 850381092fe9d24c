/** Write keys send events and nothing else; admin keys do everything; anything else is a 401. */
import crypto from 'node:crypto';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { INGESTION_PATHS } from '../api/events/paths';
import { eventsRouter } from '../api/events/router';
import { keyId, keyRing } from '../api/middleware/auth';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS, WRITE_KEY } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const storedCount = async (messageId: string) =>
  (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE message_id = $1', [messageId])).rows[0]!
    .n;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

describe('a write key', () => {
  test('sends events: track as Bearer, identify as the Basic user name (Segment), a batch', async () => {
    const app = supertest(h.app);
    const track = await app
      .post('/v1/track')
      .set('Authorization', `Bearer ${WRITE_KEY}`)
      .send({ userId: 'wk-1', event: 'Viewed', messageId: 'wk-track' });
    expect(track.status).toBe(200);
    const identify = await app
      .post('/v1/identify')
      .set('Authorization', basic(WRITE_KEY))
      .send({ userId: 'wk-1', traits: { email: 'wk-1@example.com' } });
    expect(identify.status).toBe(200);
    const batch = await app
      .post('/v1/batch')
      .set('Authorization', basic(WRITE_KEY))
      .send({ batch: [{ type: 'track', userId: 'wk-1', event: 'Clicked', messageId: 'wk-batch' }] });
    expect(batch.status).toBe(200);
    expect([await storedCount('wk-track'), await storedCount('wk-batch')]).toEqual([1, 1]);
  });

  test('gets 403 on the admin routes, with a message saying an admin key is needed, and changes nothing', async () => {
    const list = await supertest(h.app).get('/v1/flows').set('Authorization', `Bearer ${WRITE_KEY}`);
    expect(list.status).toBe(403);
    expect(list.body.error).toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/write key.*admin key \(API_KEYS\)/),
    });

    const put = await supertest(h.app)
      .put('/v1/flows/from-a-browser')
      .set('Authorization', basic(WRITE_KEY))
      .send({ name: 'x', status: 'live', trigger: { event: 'X' }, steps: [] });
    expect(put.status).toBe(403);
    expect((await h.http('get', '/v1/flows/from-a-browser')).status).toBe(404);

    expect((await supertest(h.app).get('/v1/contacts/wk-1').set('Authorization', `Bearer ${WRITE_KEY}`)).status).toBe(
      403,
    );
    // An ingestion path with a method only admin routes could have: still not past the admin check.
    expect((await supertest(h.app).get('/v1/track').set('Authorization', `Bearer ${WRITE_KEY}`)).status).toBe(403);
  });

  test('in the body as "writeKey" (analytics.js, sendBeacon): accepted on ingestion routes only', async () => {
    const body = { writeKey: WRITE_KEY, userId: 'wk-body', event: 'Viewed', messageId: 'wk-body-1' };
    const track = await supertest(h.app).post('/v1/track').set('Content-Type', 'text/plain').send(JSON.stringify(body));
    expect(track.status).toBe(200);
    expect(await storedCount('wk-body-1')).toBe(1);
    // The admin routes never read a key from the body, even an admin one.
    const flows = await supertest(h.app)
      .put('/v1/flows/body-key')
      .send({ writeKey: API_KEY, name: 'x', status: 'draft', trigger: { event: 'X' }, steps: [] });
    expect(flows.status).toBe(401);
  });
});

test('an admin key works on ingestion and admin routes alike', async () => {
  expect((await h.http('post', '/v1/track').send({ userId: 'ak-1', event: 'Viewed' })).status).toBe(200);
  expect(
    (
      await supertest(h.app)
        .post('/v1/identify')
        .set('Authorization', basic(API_KEY))
        .send({ userId: 'ak-1', traits: {} })
    ).status,
  ).toBe(200);
  expect((await h.http('get', '/v1/flows')).status).toBe(200);
  expect((await h.http('get', '/v1/contacts/ak-1')).status).toBe(200);
});

test('a key listed both as admin and as write key stays an admin key', async () => {
  const app = createApp({
    db: h.db,
    workflows: h.env.client.workflow,
    log: h.log,
    apiKeys: ['both'],
    writeKeys: ['both', 'only-write'],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });
  expect((await supertest(app).get('/v1/flows').set('Authorization', 'Bearer both')).status).toBe(200);
  expect((await supertest(app).get('/v1/flows').set('Authorization', 'Bearer only-write')).status).toBe(403);
});

describe('no valid key: 401, nothing stored', () => {
  test.each([
    ['no Authorization header', undefined],
    ['a wrong Bearer key', 'Bearer not-a-key'],
    ['a prefix of the write key', `Bearer ${WRITE_KEY.slice(0, -1)}`],
    ['the write key with a suffix', `Bearer ${WRITE_KEY}x`],
    ['a wrong Basic user', basic('not-a-key')],
    ['an unknown scheme', `Token ${WRITE_KEY}`],
  ])('%s', async (_what, authorization) => {
    const request = supertest(h.app).post('/v1/track');
    if (authorization) request.set('Authorization', authorization);
    const res = await request.send({ userId: 'nokey', event: 'Viewed', messageId: `nokey-${authorization ?? 'none'}` });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/Bearer/);
    expect(await storedCount(`nokey-${authorization ?? 'none'}`)).toBe(0);
  });

  test('the answer says what was wrong', async () => {
    const message = async (authorization?: string) => {
      const request = supertest(h.app).post('/v1/track');
      if (authorization) request.set('Authorization', authorization);
      return (await request.send({ userId: 'nokey', event: 'Viewed' })).body.error.message as string;
    };
    expect(await message()).toMatch(/^missing API key: send "Authorization: Bearer <key>".*"writeKey" in the body/);
    expect(await message(`Token ${WRITE_KEY}`)).toMatch(/^the Authorization header holds no key/);
    expect(await message('Bearer not-a-key')).toBe('API key is not valid');
  });

  test('a wrong writeKey in the body', async () => {
    const res = await supertest(h.app)
      .post('/v1/track')
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ writeKey: 'not-a-key', userId: 'nokey', event: 'Viewed', messageId: 'nokey-body' }));
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'unauthorized', message: 'API key is not valid' });
    expect(await storedCount('nokey-body')).toBe(0);
  });

  test('on an admin route', async () => {
    const res = await supertest(h.app).get('/v1/flows').set('Authorization', 'Bearer not-a-key');
    expect(res.status).toBe(401);
  });
});

test('a write key reaches every ingestion path (never 401 or 403 there)', async () => {
  const refused: string[] = [];
  for (const path of INGESTION_PATHS) {
    const res = await supertest(h.app).post(path).set('Authorization', basic(WRITE_KEY)).send({});
    if (res.status === 401 || res.status === 403 || res.status === 404) refused.push(`${path} ${res.status}`);
  }
  expect(refused).toEqual([]);
});

test('every route of the events router is an ingestion path (else a write key could not reach it)', () => {
  const paths = eventsRouter({ db: h.db, workflows: h.env.client.workflow, log: h.log }).stack.flatMap((layer) =>
    layer.route ? [layer.route.path].flat() : [],
  );
  expect(paths.length).toBeGreaterThan(0);
  expect(paths.filter((path) => !INGESTION_PATHS.includes(`/v1${path}`))).toEqual([]);
});

describe('key comparison', () => {
  const keys = { admin: ['admin-key-long-enough-0123456789'], write: ['w', 'write-key-2'] };

  test('compares against every key whatever the candidate (its length, a match on the first key): no early exit', () => {
    const ring = keyRing(keys);
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      for (const candidate of ['', 'x', 'w', keys.admin[0]!, 'y'.repeat(10_000)]) {
        compare.mockClear();
        ring.identify(candidate);
        expect([candidate.length, compare.mock.calls.length]).toEqual([candidate.length, 3]);
        // Always two digests of the same length: nothing depends on the key's length.
        expect(compare.mock.calls.map(([a, b]) => [a.byteLength, b.byteLength])).toEqual([
          [32, 32],
          [32, 32],
          [32, 32],
        ]);
      }
    } finally {
      compare.mockRestore();
    }
  });

  test('tells admin and write keys apart and refuses the rest', () => {
    const ring = keyRing(keys);
    expect(ring.identify(keys.admin[0]!)).toEqual({ kind: 'admin', id: keyId(keys.admin[0]!) });
    expect(ring.identify('w')).toEqual({ kind: 'write', id: keyId('w') });
    expect(ring.identify('W')).toBeUndefined();
    expect(ring.identify('write-key-')).toBeUndefined();
  });

  test('a key id is a short SHA-256 prefix, not the key', () => {
    expect(keyId('abc')).toBe(crypto.createHash('sha256').update('abc').digest('hex').slice(0, 12));
    expect(keyId(WRITE_KEY)).not.toContain(WRITE_KEY);
  });
});
