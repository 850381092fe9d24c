/**
 * Generic sources' secrets at rest: the table never holds a URL token (only its SHA-256), an HMAC secret or a bearer
 * token (only encrypted with SECRETS_KEY); signed and token deliveries still verify, wrong ones are refused; the API
 * never shows a secret, except one Parcours generated, once, in the answer that created it. Without the key (or with
 * another one) the server says so (503), it never stores a secret in plain text.
 */
import { createHash, createHmac } from 'node:crypto';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const SECRET = 'signing-secret-given-by-the-admin';
const BEARER = 'bearer-token-of-the-platform-api';
const mapping = { email: 'email', event: "'Form Submitted'" };
const body = (email: string) => JSON.stringify({ email });

const put = (id: string, config: object, app = h.app) =>
  supertest(app).put(`/v1/sources/${id}`).set('Authorization', `Bearer ${API_KEY}`).send(config);
const get = (id: string) => supertest(h.app).get(`/v1/sources/${id}`).set('Authorization', `Bearer ${API_KEY}`);
const signed = (id: string, payload: string, secret: string, app = h.app) =>
  supertest(app)
    .post(`/v1/sources/${id}/events`)
    .set('Content-Type', 'application/json')
    .set('X-Signature', `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}`)
    .send(payload);
const withToken = (id: string, payload: string, token: string) =>
  supertest(h.app)
    .post(`/v1/sources/${id}/events?token=${encodeURIComponent(token)}`)
    .set('Content-Type', 'application/json')
    .send(payload);
const row = async (id: string) =>
  (
    await h.db.query<{ config: Record<string, unknown>; text: string }>(
      'SELECT config, config::text AS text FROM sources WHERE id = $1',
      [id],
    )
  ).rows[0];
const hmac = (secret?: string) => ({
  type: 'hmac',
  header: 'X-Signature',
  prefix: 'sha256=',
  encoding: 'hex',
  ...(secret ? { secret } : {}),
});

test('an HMAC secret and a bearer token are stored encrypted; signed deliveries verify, a wrong signature is refused', async () => {
  const created = await put('forms', {
    name: 'Forms',
    auth: hmac(SECRET),
    fetch: { url: 'api_url', urlPrefix: 'https://api.example/', bearerToken: BEARER },
    mapping,
  });
  expect(created.status).toBe(201);
  // A secret the admin gave is not repeated.
  expect(created.body.auth).toEqual({
    type: 'hmac',
    header: 'X-Signature',
    prefix: 'sha256=',
    encoding: 'hex',
    secret: '(set)',
  });
  expect(created.body.fetch.bearerToken).toBe('(set)');
  expect(created.body.shownOnce).toBeUndefined();

  const stored = await row('forms');
  expect(stored.text).not.toContain(SECRET);
  expect(stored.text).not.toContain(BEARER);
  expect(stored.config.auth).toMatchObject({ secretSealed: expect.stringMatching(/^v1:/) });
  expect(stored.config.fetch).toMatchObject({ bearerTokenSealed: expect.stringMatching(/^v1:/) });

  // Editing without the secrets (the API never shows them) keeps them; null removes the bearer token.
  const fetchTo = { url: 'api_url', urlPrefix: 'https://api.example/' };
  expect((await put('forms', { name: 'Forms', auth: hmac(), fetch: fetchTo, mapping })).body.fetch.bearerToken).toBe(
    '(set)',
  );
  const removed = await put('forms', {
    name: 'Forms',
    auth: hmac(),
    fetch: { ...fetchTo, bearerToken: null },
    mapping,
  });
  expect(removed.status).toBe(200);
  expect(removed.body.fetch.bearerToken).toBeUndefined();
  expect((await row('forms')).config.fetch).toEqual(
    expect.not.objectContaining({ bearerTokenSealed: expect.anything() }),
  );
  // Deliveries here carry no link to fetch: the source keeps only its (kept) secret.
  expect((await put('forms', { name: 'Forms (edited)', auth: hmac(), mapping })).status).toBe(200);
  const ok = await signed('forms', body('signed@example.com'), SECRET);
  expect(ok.status).toBe(200);
  expect(ok.body.stored).toMatchObject({ event: 'Form Submitted', contactId: 'signed@example.com', duplicate: false });
  const forged = await signed('forms', body('forged@example.com'), 'not-the-secret-at-all');
  expect(forged.status).toBe(401);
  expect(forged.body.error.code).toBe('invalid_signature');
  expect((await h.db.query("SELECT 1 FROM contacts WHERE id = 'forged@example.com'")).rowCount).toBe(0);

  expect((await signed('forms', body('again@example.com'), SECRET)).status).toBe(200);
  // A new secret replaces it: the old one no longer verifies.
  expect((await put('forms', { name: 'Forms', auth: hmac('a-brand-new-secret-123'), mapping })).status).toBe(200);
  expect((await signed('forms', body('old@example.com'), SECRET)).status).toBe(401);
  expect((await signed('forms', body('new@example.com'), 'a-brand-new-secret-123')).status).toBe(200);
});

test('a URL token is stored as its SHA-256 only; one Parcours generates is shown once, in the creation answer', async () => {
  const created = await put('tickets', { name: 'Tickets', auth: { type: 'token' }, mapping });
  expect(created.status).toBe(201);
  const token: string = created.body.auth.token;
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(created.body.receiveUrl).toBe(`/v1/sources/tickets/events?token=${token}`);
  expect(created.body.shownOnce).toMatch(/in this answer only/);

  // Never again: not in a read, not in the table.
  const read = await get('tickets');
  expect(read.body.auth).toEqual({ type: 'token', token: '(set)' });
  expect(read.body.receiveUrl).toBe('/v1/sources/tickets/events');
  const stored = await row('tickets');
  expect(stored.text).not.toContain(token);
  expect(stored.config.auth).toEqual({ type: 'token', tokenSha256: createHash('sha256').update(token).digest('hex') });

  expect((await withToken('tickets', body('ticket@example.com'), token)).status).toBe(200);
  const wrong = await withToken('tickets', body('nobody@example.com'), `${token.slice(0, -1)}x`);
  expect(wrong.status).toBe(401);
  expect(wrong.body.error.code).toBe('invalid_token');
  // A token the admin gives is kept as a hash too, and not repeated.
  const given = await put('tickets', {
    name: 'Tickets',
    auth: { type: 'token', token: 'a-token-the-admin-chose-0123' },
    mapping,
  });
  expect(given.body.auth).toEqual({ type: 'token', token: '(set)' });
  expect((await row('tickets')).text).not.toContain('a-token-the-admin-chose-0123');
  expect((await withToken('tickets', body('ticket@example.com'), token)).status).toBe(401);
  expect((await withToken('tickets', body('ticket2@example.com'), 'a-token-the-admin-chose-0123')).status).toBe(200);
});

test('an HMAC source created without a secret gets one, shown once; signing with it verifies', async () => {
  const created = await put('generated', { name: 'Generated', auth: hmac(), mapping });
  expect(created.status).toBe(201);
  const secret: string = created.body.auth.secret;
  expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect((await get('generated')).body.auth.secret).toBe('(set)');
  expect((await row('generated')).text).not.toContain(secret);
  expect((await signed('generated', body('gen@example.com'), secret)).status).toBe(200);
});

test('without SECRETS_KEY, or with another one, the API says so (503) and stores no secret in plain text', async () => {
  const deps = {
    db: h.db,
    workflows: h.env.client.workflow,
    log: h.log,
    apiKeys: [API_KEY],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  };
  const keyless = createApp(deps);
  const refused = await put('keyless', { name: 'Keyless', auth: hmac(SECRET), mapping }, keyless);
  expect(refused.status).toBe(503);
  expect(refused.body.error).toMatchObject({
    code: 'secrets_key_missing',
    message: expect.stringMatching(/SECRETS_KEY/),
  });
  expect(await row('keyless')).toBeUndefined();
  // A token needs no key: only its hash is kept.
  expect((await put('keyless', { name: 'Keyless', auth: { type: 'token' }, mapping }, keyless)).status).toBe(201);

  // A source sealed with the test key, read by an API configured with another: the platform is told to retry.
  expect((await put('sealed', { name: 'Sealed', auth: hmac(SECRET), mapping })).status).toBe(201);
  const noKey = await signed('sealed', body('s1@example.com'), SECRET, keyless);
  expect(noKey.status).toBe(503);
  expect(noKey.body.error.code).toBe('secrets_key_missing');
  const otherKey = await signed(
    'sealed',
    body('s2@example.com'),
    SECRET,
    createApp({ ...deps, secretsKey: Buffer.alloc(32, 9) }),
  );
  expect(otherKey.status).toBe(503);
  expect(otherKey.body.error.code).toBe('secret_unreadable');
  expect((await h.db.query("SELECT 1 FROM contacts WHERE id IN ('s1@example.com', 's2@example.com')")).rowCount).toBe(
    0,
  );
});
