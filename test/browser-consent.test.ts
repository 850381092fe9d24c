/**
 * Consent a browser cannot forge: a write key sits in a web page, so anyone can send what it sends. It records
 * events and traits, but an opt-in it carries starts double opt-in (email) or stays unconfirmed with its proof (SMS,
 * push), it cannot replace a known contact's email or phone, and it cannot join lists. An admin key still can.
 */
import supertest from 'supertest';
import { waitFor } from './helpers/fake-http';
import { Harness, TEST_LINKS, WRITE_KEY } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
  await h.db.query("INSERT INTO lists (id, name) VALUES ('newsletter', 'Newsletter') ON CONFLICT DO NOTHING");
});
afterAll(() => h?.stop());

/** What a page's analytics.js does: the write key in the body, text/plain. */
const fromBrowser = (path: string, body: Record<string, unknown>) =>
  supertest(h.app)
    .post(path)
    .set('Content-Type', 'text/plain')
    .set('User-Agent', 'Mozilla/5.0 (forger)')
    .send(JSON.stringify({ ...body, writeKey: WRITE_KEY }));
const consentOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}/consent`)).body;
const contactOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}`)).body;
const emailsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to);

test('a write key asking email, SMS and push consent: email pending with a confirmation sent, SMS and push unconfirmed with the request as proof', async () => {
  const res = await fromBrowser('/v1/identify', {
    userId: 'browser-1',
    messageId: 'browser-1-signup',
    traits: {
      email: 'browser-1@example.com',
      phone: '+33655509001',
      consent: { email: 'subscribed', sms: true, push: 'subscribed' },
    },
    context: { page: { url: 'https://shop.example/signup' } },
  });
  expect(res.status).toBe(200);
  expect(res.body.consent).toEqual({
    email: { status: 'pending', confirmation: expect.objectContaining({ status: 'sent' }) },
  });

  const consent = await consentOf('browser-1');
  expect(consent.channels.email).toMatchObject({ status: 'pending', source: 'write_key' });
  expect(consent.channels.sms).toMatchObject({
    status: 'pending',
    source: 'write_key',
    userAgent: 'Mozilla/5.0 (forger)',
  });
  expect(consent.channels.sms.ip).toBeTruthy();
  expect(consent.channels.push.status).toBe('pending');
  const sms = consent.history.find((e: { properties: { channel: string } }) => e.properties.channel === 'sms');
  expect(sms.properties.proof).toEqual({ asked: 'subscribed', via: 'write_key', page: 'https://shop.example/signup' });

  // The confirmation email went to the address; following its link subscribes the person (double opt-in).
  const [confirmation] = emailsTo('browser-1@example.com');
  expect(confirmation.subject).toBe('Please confirm your subscription');
  const link = /href="(https:\/\/parcours\.test\/c\/[\w.-]+)"/.exec(confirmation.html)![1];
  const confirmed = await supertest(h.app).post(link.replace(TEST_LINKS.publicUrl, '')).type('form').send('');
  expect(confirmed.status).toBe(200);
  expect((await consentOf('browser-1')).channels.email).toMatchObject({
    status: 'subscribed',
    source: 'double_opt_in',
  });

  // The same call again (a retry) sends nothing more.
  await fromBrowser('/v1/identify', { userId: 'browser-1', messageId: 'browser-1-signup', traits: {} });
  expect(emailsTo('browser-1@example.com')).toHaveLength(1);
});

test('a French visitor signing up from the page gets the confirmation in French (the locale given in the same call)', async () => {
  const res = await fromBrowser('/v1/identify', {
    userId: 'browser-fr',
    traits: { email: 'browser-fr@example.com', locale: 'fr-FR', consent: { email: 'subscribed' } },
  });
  expect(res.status).toBe(200);
  expect(res.body.consent.email).toMatchObject({ status: 'pending', confirmation: { status: 'sent' } });
  const [confirmation] = emailsTo('browser-fr@example.com');
  expect(confirmation.subject).toBe('Merci de confirmer votre inscription');
  expect(confirmation.html).toContain('Confirmer mon inscription');
});

test('a write key batch asking email consent: pending, and the confirmation goes out after the answer', async () => {
  const res = await fromBrowser('/v1/batch', {
    batch: [
      {
        type: 'identify',
        userId: 'browser-2',
        traits: { email: 'browser-2@example.com', consent: { email: true } },
      },
    ],
  });
  expect(res.status).toBe(200);
  expect((await consentOf('browser-2')).channels.email).toMatchObject({ status: 'pending', source: 'write_key' });
  await waitFor(() => emailsTo('browser-2@example.com').length === 1, 'the confirmation email');
  expect(emailsTo('browser-2@example.com')[0].subject).toBe('Please confirm your subscription');
});

test('an admin key still records consent as given', async () => {
  const res = await h.http('post', '/v1/identify').send({
    userId: 'server-1',
    traits: { email: 'server-1@example.com', consent: { email: 'subscribed', sms: true } },
  });
  expect(res.status).toBe(200);
  const consent = await consentOf('server-1');
  expect([consent.channels.email.status, consent.channels.sms.status]).toEqual(['subscribed', 'subscribed']);
  expect(emailsTo('server-1@example.com')).toEqual([]);

  // A browser repeating a confirmed subscription leaves it; a browser withdrawing it is taken at its word.
  await fromBrowser('/v1/identify', { userId: 'server-1', traits: { consent: { email: 'subscribed' } } });
  expect((await consentOf('server-1')).channels.email.status).toBe('subscribed');
  await fromBrowser('/v1/identify', { userId: 'server-1', traits: { consent: { sms: false } } });
  expect((await consentOf('server-1')).channels.sms).toMatchObject({ status: 'unsubscribed', source: 'write_key' });
});

test("a write key cannot change a known contact's email or phone: 403 naming the field, nothing stored; an admin key can", async () => {
  await h.identify('known-1', { email: 'owner@example.com', phone: '+33655509002' });
  const hijack = await fromBrowser('/v1/identify', {
    userId: 'known-1',
    messageId: 'hijack-1',
    traits: { email: 'attacker@example.com', firstName: 'Mallory' },
  });
  expect(hijack.status).toBe(403);
  expect(hijack.body.error).toMatchObject({
    code: 'address_change_refused',
    message: expect.stringMatching(/admin key/),
    issues: [{ path: ['traits', 'email'], message: expect.any(String) }],
  });
  const phone = await fromBrowser('/v1/track', {
    userId: 'known-1',
    event: 'Viewed',
    context: { traits: { phone: '+33655509999' } },
  });
  expect(phone.status).toBe(403);
  expect(await contactOf('known-1')).toMatchObject({ email: 'owner@example.com', phone: '+33655509002' });
  expect((await h.db.query("SELECT 1 FROM events WHERE message_id = 'hijack-1'")).rows).toEqual([]);

  // In a batch the call is refused alone, with its reason; the others are stored.
  const batch = await fromBrowser('/v1/batch', {
    batch: [
      { type: 'identify', userId: 'known-1', messageId: 'hijack-2', traits: { email: 'attacker@example.com' } },
      { type: 'track', userId: 'known-1', messageId: 'fine-1', event: 'Viewed' },
    ],
  });
  expect(batch.status).toBe(200);
  expect(batch.body.results).toEqual([
    expect.objectContaining({ outcome: 'rejected', code: 'address_change_refused' }),
    expect.objectContaining({ outcome: 'stored' }),
  ]);

  // The same email (any case), and a first email for a contact without one, are fine from a browser.
  expect(
    (await fromBrowser('/v1/identify', { userId: 'known-1', traits: { email: 'Owner@Example.com' } })).status,
  ).toBe(200);
  await fromBrowser('/v1/track', { userId: 'no-email-yet', event: 'Viewed' });
  expect(
    (await fromBrowser('/v1/identify', { userId: 'no-email-yet', traits: { email: 'first@example.com' } })).status,
  ).toBe(200);
  expect((await contactOf('no-email-yet')).email).toBe('first@example.com');

  // The shop's server, with an admin key, changes it.
  expect(
    (await h.http('post', '/v1/identify').send({ userId: 'known-1', traits: { email: 'new@example.com' } })).status,
  ).toBe(200);
  expect((await contactOf('known-1')).email).toBe('new@example.com');
});

test('a write key cannot join lists (it can leave them); an admin key can join', async () => {
  await fromBrowser('/v1/identify', { userId: 'lister', traits: { lists: { newsletter: true } } });
  expect((await contactOf('lister')).lists).toEqual([]);
  await h.http('post', '/v1/identify').send({ userId: 'lister', traits: { lists: { newsletter: true } } });
  expect((await contactOf('lister')).lists).toEqual([expect.objectContaining({ id: 'newsletter' })]);
  await fromBrowser('/v1/identify', { userId: 'lister', traits: { lists: { newsletter: false } } });
  expect((await contactOf('lister')).lists).toEqual([]);
});
