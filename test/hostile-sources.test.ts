/**
 * Hostile deliveries to a generic source (correctly signed, as a platform or an attacker with a
 * leaked secret would send them) against the real API, Temporal test server and Postgres: a NUL
 * or half a surrogate pair in any field (the raw payload is stored whole in context.raw), a
 * timestamp past the range of Date or of years 1-9999. Each is a 400 naming the field, nothing
 * is stored, and the next good delivery is.
 */
import { createHmac } from 'node:crypto';
import supertest from 'supertest';
import { Harness } from './helpers/harness';

const SECRET = 'hostile-source-secret';
let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
  const created = await h.http('put', '/v1/sources/forms').send({
    name: 'Hostile forms',
    auth: { type: 'hmac', header: 'X-Signature', encoding: 'hex', secret: SECRET },
    mapping: {
      email: 'answers.email',
      event: "'Form Submitted'",
      properties: "{ 'form': form }",
      traits: "{ 'firstName': answers.name }",
      timestamp: 'submitted_at',
      deliveryId: 'id',
    },
  });
  expect(created.status).toBe(201);
});
afterAll(() => h?.stop());

let seq = 0;
function deliver(payload: Record<string, unknown>) {
  const body = JSON.stringify({ id: `delivery-${++seq}`, form: 'survey', ...payload });
  return supertest(h.app)
    .post('/v1/sources/forms/events')
    .set('Content-Type', 'application/json')
    .set('X-Signature', createHmac('sha256', SECRET).update(Buffer.from(body)).digest('hex'))
    .send(body);
}
const eventCount = async () => Number((await h.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);
const answers = (extra: Record<string, unknown> = {}) => ({ email: `form-${seq}@example.com`, name: 'Ada', ...extra });

afterEach(async () => {
  expect((await supertest(h.app).get('/health')).status).toBe(200);
  const good = await deliver({ answers: answers(), submitted_at: new Date().toISOString() });
  expect(good.status).toBe(200);
  expect(good.body.stored).toMatchObject({ event: 'Form Submitted', duplicate: false });
});

test.each([
  ['a NUL in a mapped field', { answers: answers({ email: 'ada\u0000@example.com' }) }, ['answers', 'email']],
  ['half a surrogate pair in a mapped name', { answers: answers({ name: 'Ada \uD83D' }) }, ['answers', 'name']],
  ['a NUL in a field no mapping reads', { answers: answers(), extra: { note: 'a\u0000b' } }, ['extra', 'note']],
  ['a lone surrogate in a key', { answers: answers(), '\uDC00key': 1 }, ['\uDC00key']],
  ['a lone surrogate in an array', { answers: answers(), tags: ['ok', '\uDBFF'] }, ['tags', 1]],
])('%s is a 400 naming its path; nothing is stored', async (_what, payload, path) => {
  const before = await eventCount();
  const res = await deliver(payload);
  expect(res.status).toBe(400);
  expect(res.body.error.issues).toEqual([expect.objectContaining({ path })]);
  expect(await eventCount()).toBe(before);
});

test.each([
  ['epoch milliseconds past the range of Date', 1e300],
  ['an ISO date past year 9999', '+012026-01-01T00:00:00Z'],
  ['an ISO date before year 1', '-000001-01-01T00:00:00Z'],
  ['text that is no date', 'the day after tomorrow'],
])('a timestamp of %s is a 400 naming mapping.timestamp; nothing is stored', async (_what, submittedAt) => {
  const before = await eventCount();
  const res = await deliver({ answers: answers(), submitted_at: submittedAt });
  expect(res.status).toBe(400);
  expect(res.body.error.issues).toEqual([expect.objectContaining({ path: ['mapping', 'timestamp'] })]);
  expect(await eventCount()).toBe(before);
});
