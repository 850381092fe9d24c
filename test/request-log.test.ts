/** One JSON line per request in the API's log: what was asked, how it ended, which key; never the key. */
import { Writable } from 'node:stream';
import pino from 'pino';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { keyId } from '../api/middleware/auth';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS, WRITE_KEY } from './helpers/harness';

let h: Harness;
let app: ReturnType<typeof createApp>;
const output: string[] = [];

beforeAll(async () => {
  h = await Harness.start();
  // The logger the API process uses (pino, JSON lines), writing where the test can read it.
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const log = pino({ name: 'parcours-api', level: 'info' }, stream);
  app = createApp({
    db: h.db,
    workflows: h.env.client.workflow,
    log,
    apiKeys: [API_KEY],
    writeKeys: [WRITE_KEY],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });
});
afterAll(() => h?.stop());

/** The lines logged for one request, found by the request id it was sent with. */
async function linesOf(requestId: string): Promise<Record<string, unknown>[]> {
  const lines = () =>
    output.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === requestId);
  await waitFor(() => lines().length > 0, `the log line of ${requestId}`);
  // Give a second line the time to show up, were there one.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return lines();
}

test('a 401, a 400 and a 200 give one line each, with method, route, status, time, key id and error code; no line holds a key', async () => {
  const wrongKey = 'sk_wrong_9f8e7d6c5b4a';
  const refused = await supertest(app)
    .post('/v1/track')
    .set('X-Request-Id', 'req-401')
    .set('Authorization', `Bearer ${wrongKey}`)
    .send({ userId: 'log-1', event: 'Viewed' });
  const invalid = await supertest(app)
    .post('/v1/track')
    .set('X-Request-Id', 'req-400')
    .set('Authorization', `Bearer ${API_KEY}`)
    .send({ userId: 'log-1' });
  const accepted = await supertest(app)
    .post('/v1/track')
    .set('X-Request-Id', 'req-200')
    .set('Authorization', `Bearer ${WRITE_KEY}`)
    .send({ userId: 'log-1', event: 'Viewed' });
  expect([refused.status, invalid.status, accepted.status]).toEqual([401, 400, 200]);

  const [line401, line400, line202] = [await linesOf('req-401'), await linesOf('req-400'), await linesOf('req-200')];
  expect(line401).toEqual([
    expect.objectContaining({
      msg: 'request',
      method: 'POST',
      route: '/v1/track',
      status: 401,
      errorCode: 'unauthorized',
      keyId: null,
      durationMs: expect.any(Number),
    }),
  ]);
  expect(line400).toEqual([
    expect.objectContaining({
      method: 'POST',
      route: '/v1/track',
      status: 400,
      errorCode: 'invalid_request',
      keyId: keyId(API_KEY),
      keyKind: 'admin',
    }),
  ]);
  expect(line202).toEqual([
    expect.objectContaining({
      method: 'POST',
      route: '/v1/track',
      status: 200,
      keyId: keyId(WRITE_KEY),
      keyKind: 'write',
    }),
  ]);
  expect(line202[0]).not.toHaveProperty('errorCode');
  expect(line400[0]!.level).toBe(30);

  for (const secret of [wrongKey, API_KEY, WRITE_KEY, 'Bearer', 'authorization']) {
    expect(output.filter((line) => line.toLowerCase().includes(secret.toLowerCase()))).toEqual([]);
  }
});

test('the route is the pattern, not the URL: ids (here an email address) stay out of the log', async () => {
  const res = await supertest(app)
    .get('/v1/contacts/ada%40example.com/journeys')
    .set('X-Request-Id', 'req-pattern')
    .set('Authorization', `Bearer ${API_KEY}`);
  expect(res.status).toBe(200);
  expect(await linesOf('req-pattern')).toEqual([
    expect.objectContaining({ method: 'GET', route: '/v1/contacts/:id/journeys', status: 200 }),
  ]);
  const notFound = await supertest(app)
    .get('/v1/contacts/ada%40example.com')
    .set('X-Request-Id', 'req-404')
    .set('Authorization', `Bearer ${API_KEY}`);
  expect(notFound.status).toBe(404);
  expect(await linesOf('req-404')).toEqual([
    expect.objectContaining({ route: '/v1/contacts/:id', status: 404, errorCode: 'not_found' }),
  ]);
  expect(output.filter((line) => line.includes('ada'))).toEqual([]);
});

test('a write key on an admin route: 403 logged with its key id and the code', async () => {
  await supertest(app).get('/v1/flows').set('X-Request-Id', 'req-403').set('Authorization', `Bearer ${WRITE_KEY}`);
  expect(await linesOf('req-403')).toEqual([
    expect.objectContaining({
      route: null,
      status: 403,
      errorCode: 'forbidden',
      keyId: keyId(WRITE_KEY),
      keyKind: 'write',
    }),
  ]);
});

test("every answer carries its request id: the caller's when it is a plain token, a new one otherwise", async () => {
  const given = await supertest(app)
    .get('/v1/flows')
    .set('X-Request-Id', 'proxy-abc.123')
    .set('Authorization', `Bearer ${API_KEY}`);
  expect(given.headers['x-request-id']).toBe('proxy-abc.123');
  const odd = await supertest(app)
    .get('/v1/flows')
    .set('X-Request-Id', 'has spaces {"and":"json"}')
    .set('Authorization', `Bearer ${API_KEY}`);
  expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  expect(await linesOf(odd.headers['x-request-id'] as string)).toHaveLength(1);
});
