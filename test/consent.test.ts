/**
 * The consent policy for marketing sends, on the real servers (CONSENT_EMAIL left at its default,
 * opt_out): SMS needs an opt-in, email goes to anyone not unsubscribed, a flow can require
 * subscribed contacts, transactional messages ignore consent; and the admin consent API.
 */
import {
  consentFromTraits,
  emailPolicyFrom,
  marketingRefusal,
  smsKeywordSource,
  suppressionAfter,
} from '../audiences/consent-policy';
import { applyTraitConsent, moveConsent, writeConsent } from '../db/consent';
import { inTransaction } from '../db/pool';
import type { FlowInput } from '../flows/schema';
import supertest from 'supertest';
import type { Express } from 'express';
import { readEnv } from '../runtime/env';
import { Harness, TEST_LINKS } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false },
  quietHours: { email: null, sms: null, push: null },
  steps,
  ...extra,
});
type MessageView = { stepId: string; status: string; reason: string | null };
const messageOf = async (contactId: string, stepId: string) =>
  ((await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as MessageView[]).find(
    (m) => m.stepId === stepId,
  )!;
const smsTo = (phone: string) => h.twilio.messages.filter((m) => m.to === phone).map((m) => m.body);
const emailsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
const putConsent = (contactId: string, channel: string, body: Record<string, unknown>) =>
  h.http('put', `/v1/contacts/${contactId}/consent/${channel}`).send(body);
let runs = 0;
/** Enters the flow (a new trigger event each time) and waits for the journey to end. */
async function run(flowId: string, event: string, userId: string) {
  runs += 1;
  await h.track({ userId, event, messageId: `${event}-${userId}-${runs}` });
  return h.result(flowId, userId);
}

describe('SMS needs an opt-in', () => {
  beforeAll(() =>
    h.putFlow('sms-promo', flow('Flash Sale', [{ id: 'promo', type: 'sms', body: 'Flash sale: -20% today' }])),
  );

  test('a promotional SMS is not sent to a contact never asked; after the opt-in it is', async () => {
    await h.identify('nosms', { phone: '+33611111111', email: 'nosms@example.com' });
    await run('sms-promo', 'Flash Sale', 'nosms');
    expect(smsTo('+33611111111')).toEqual([]);
    expect(await messageOf('nosms', 'promo')).toMatchObject({
      status: 'skipped',
      reason: 'no SMS consent (never_asked; SMS requires an opt-in)',
    });

    const res = await putConsent('nosms', 'sms', {
      status: 'subscribed',
      source: 'checkout',
      ip: '203.0.113.9',
      userAgent: 'Shop/1.0',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      contactId: 'nosms',
      channel: 'sms',
      status: 'subscribed',
      changed: true,
      previous: 'never_asked',
    });

    await run('sms-promo', 'Flash Sale', 'nosms');
    expect(smsTo('+33611111111')).toEqual(['Flash sale: -20% today']);

    const consent = (await h.http('get', '/v1/contacts/nosms/consent')).body;
    expect(consent.channels.sms).toMatchObject({
      status: 'subscribed',
      source: 'checkout',
      ip: '203.0.113.9',
      userAgent: 'Shop/1.0',
    });
    expect(consent.channels.email).toMatchObject({ status: 'never_asked' });
    expect(consent.history.map((e: { properties: unknown }) => e.properties)).toEqual([
      {
        channel: 'sms',
        status: 'subscribed',
        previous: 'never_asked',
        source: 'checkout',
        ip: '203.0.113.9',
        user_agent: 'Shop/1.0',
      },
    ]);
  });

  test('the same change again stores nothing; an opt-out stops the next SMS', async () => {
    await h.identify('flipper', { phone: '+33622222222' });
    expect((await putConsent('flipper', 'sms', { status: 'subscribed', source: 'checkout' })).body.changed).toBe(true);
    expect((await putConsent('flipper', 'sms', { status: 'subscribed', source: 'checkout' })).body.changed).toBe(false);
    await run('sms-promo', 'Flash Sale', 'flipper');
    expect(await putConsent('flipper', 'sms', { status: 'unsubscribed', source: 'support' })).toMatchObject({
      status: 200,
    });
    await run('sms-promo', 'Flash Sale', 'flipper');
    expect(smsTo('+33622222222')).toHaveLength(1);
    const stored = await h.db.query(
      "SELECT properties->>'status' AS status FROM events WHERE contact_id = 'flipper' AND name = 'Consent Changed' ORDER BY id",
    );
    expect(stored.rows.map((r) => r.status)).toEqual(['subscribed', 'unsubscribed']);
  });

  test('a transactional SMS ignores consent', async () => {
    await h.putFlow(
      'sms-receipt',
      flow('Order Shipped', [{ id: 'shipped', type: 'sms', body: 'Your order is on its way', transactional: true }]),
    );
    await h.identify('optedout', { phone: '+33633333333' });
    await putConsent('optedout', 'sms', { status: 'unsubscribed', source: 'support' });
    await run('sms-receipt', 'Order Shipped', 'optedout');
    expect(smsTo('+33633333333')).toEqual(['Your order is on its way']);
  });
});

describe('email under CONSENT_EMAIL=opt_out (the default)', () => {
  beforeAll(() =>
    h.putFlow('news', flow('News Day', [{ id: 'news', type: 'email', subject: 'Our news', html: '<p>News</p>' }])),
  );

  test('a contact never asked gets marketing email; one who unsubscribed does not', async () => {
    await h.identify('never', { email: 'never@example.com' });
    await h.identify('declined', { email: 'declined@example.com' });
    await putConsent('declined', 'email', { status: 'unsubscribed', source: 'signup_form' });
    await run('news', 'News Day', 'never');
    await run('news', 'News Day', 'declined');
    expect(emailsTo('never@example.com')).toEqual(['Our news']);
    expect(emailsTo('declined@example.com')).toEqual([]);
    expect(await messageOf('declined', 'news')).toMatchObject({ status: 'skipped' });
  });

  test('a flow with requireSubscribed sends only to subscribed contacts', async () => {
    await h.putFlow(
      'vip',
      flow('Vip Day', [{ id: 'vip', type: 'email', subject: 'VIP offer', html: '<p>VIP</p>' }], {
        requireSubscribed: true,
      }),
    );
    await h.identify('casual', { email: 'casual@example.com' });
    await h.identify('fan', { email: 'fan@example.com' });
    await putConsent('fan', 'email', { status: 'subscribed', source: 'signup_form' });
    await run('vip', 'Vip Day', 'casual');
    await run('vip', 'Vip Day', 'fan');
    expect(emailsTo('casual@example.com')).toEqual([]);
    expect(await messageOf('casual', 'vip')).toMatchObject({
      status: 'skipped',
      reason: 'no email consent (never_asked; the flow requires subscribed contacts)',
    });
    expect(emailsTo('fan@example.com')).toEqual(['VIP offer']);
  });

  test('a transactional email goes to a contact who unsubscribed', async () => {
    await h.putFlow(
      'receipt',
      flow(
        'Paid',
        [{ id: 'receipt', type: 'email', subject: 'Your receipt', html: '<p>Thanks</p>', transactional: true }],
        { requireSubscribed: true },
      ),
    );
    await h.identify('buyer', { email: 'buyer@example.com' });
    await putConsent('buyer', 'email', { status: 'unsubscribed', source: 'support' });
    await run('receipt', 'Paid', 'buyer');
    expect(emailsTo('buyer@example.com')).toEqual(['Your receipt']);
  });
});

describe('the consent API', () => {
  test('bad input is a 400 naming the field; an unknown contact a 404', async () => {
    const channel = await putConsent('someone', 'fax', { status: 'subscribed', source: 'x' });
    expect(channel.status).toBe(400);
    expect(channel.body.error.issues).toEqual([expect.objectContaining({ path: ['params', 'channel'] })]);
    const status = await putConsent('someone', 'sms', { status: 'maybe', source: 'x' });
    expect(status.status).toBe(400);
    expect(status.body.error.issues[0].path).toEqual(['status']);
    const source = await putConsent('someone', 'sms', { status: 'subscribed' });
    expect(source.status).toBe(400);
    expect(source.body.error.issues[0].path).toEqual(['source']);
    expect((await h.http('get', '/v1/contacts/nobody-here/consent')).status).toBe(404);
  });

  test('pending on email without an email address is refused, naming the status', async () => {
    await h.identify('phoneonly', { phone: '+33644444444' });
    const res = await putConsent('phoneonly', 'email', { status: 'pending', source: 'signup_form' });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['status']);
  });
});

describe('the address kept as proof of consent (TRUST_PROXY)', () => {
  /**
   * Puts the contact's email pending, clicks the confirmation link through `app` with the given
   * X-Forwarded-For, and answers the address the consent record kept.
   */
  async function confirmThrough(app: Express, contactId: string, forwardedFor: string): Promise<string> {
    const address = `${contactId}@example.com`;
    await h.identify(contactId, { email: address });
    expect((await putConsent(contactId, 'email', { status: 'pending', source: 'signup_form' })).status).toBe(200);
    const confirmation = h.sendgrid.emails.find((e) => e.to === address);
    const link = /href="(https:\/\/parcours\.test\/c\/[\w.-]+)"/.exec(confirmation?.html ?? '')?.[1];
    if (!link) throw new Error(`no confirmation link sent to ${address}`);
    const confirmed = await supertest(app)
      .post(link.replace(TEST_LINKS.publicUrl, ''))
      .set('X-Forwarded-For', forwardedFor)
      .type('form')
      .send('');
    expect(confirmed.status).toBe(200);
    const email = (await h.http('get', `/v1/contacts/${contactId}/consent`)).body.channels.email;
    expect(email.status).toBe('subscribed');
    return email.ip;
  }

  test('by default a forged X-Forwarded-For is not kept: the address the request came from is', async () => {
    // The compose file publishes the API directly: this header is whatever the client wrote.
    const ip = await confirmThrough(h.app, 'proof-direct', '203.0.113.66');
    expect(ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  test('TRUST_PROXY=1: the address the one proxy in front appended (the last hop), not what the client forged', async () => {
    const behindProxy = h.appWith({ trustProxy: readEnv({ TRUST_PROXY: '1' }).TRUST_PROXY });
    // The client forged the first entry; the proxy appended the address it saw.
    expect(await confirmThrough(behindProxy, 'proof-proxied', '203.0.113.66, 198.51.100.20')).toBe('198.51.100.20');
  });
});

describe('consent from identify traits and contact merge (the functions ingestion and merge call)', () => {
  test('traits set consent per channel, stored as Consent Changed events with source identify', async () => {
    await h.identify('traity', { email: 'traity@example.com', phone: '+33655500000' });
    const stored = await inTransaction(h.db, (tx) =>
      applyTraitConsent(tx, 'traity', { consent: { sms: true, email: 'unsubscribed' } }, new Date().toISOString()),
    );
    expect(stored.map((e) => e.properties)).toEqual([
      { channel: 'email', status: 'unsubscribed', previous: 'never_asked', source: 'identify' },
      { channel: 'sms', status: 'subscribed', previous: 'never_asked', source: 'identify' },
    ]);
    // The same traits again (a profile re-sent): nothing new.
    expect(
      await inTransaction(h.db, (tx) =>
        applyTraitConsent(tx, 'traity', { consent: { sms: true } }, new Date().toISOString()),
      ),
    ).toEqual([]);
    await run('sms-promo', 'Flash Sale', 'traity');
    expect(smsTo('+33655500000')).toEqual(['Flash sale: -20% today']);
  });

  test('an anonymous contact merged into a known one: the more recent decision per channel wins', async () => {
    const at = (iso: string) => iso;
    await inTransaction(h.db, async (tx) => {
      await writeConsent(tx, {
        contactId: 'known-1',
        channel: 'email',
        status: 'subscribed',
        source: 'signup_form',
        occurredAt: at('2026-01-01T00:00:00Z'),
      });
      await writeConsent(tx, {
        contactId: 'known-1',
        channel: 'sms',
        status: 'subscribed',
        source: 'checkout',
        occurredAt: at('2026-03-01T00:00:00Z'),
      });
      await writeConsent(tx, {
        contactId: 'anonymous:a1',
        channel: 'email',
        status: 'unsubscribed',
        source: 'preference_page',
        occurredAt: at('2026-02-01T00:00:00Z'),
      });
      await writeConsent(tx, {
        contactId: 'anonymous:a1',
        channel: 'sms',
        status: 'unsubscribed',
        source: 'support',
        occurredAt: at('2026-02-01T00:00:00Z'),
      });
      await moveConsent(tx, 'anonymous:a1', 'known-1');
    });
    const consent = (await h.http('get', '/v1/contacts/known-1/consent')).body.channels;
    expect(consent.email).toMatchObject({ status: 'unsubscribed', source: 'preference_page' });
    expect(consent.sms).toMatchObject({ status: 'subscribed', source: 'checkout' });
    expect((await h.db.query("SELECT 1 FROM contact_consent WHERE contact_id = 'anonymous:a1'")).rowCount).toBe(0);
    // The next change after the merge still stores its event (its messageId does not collide).
    const next = await inTransaction(h.db, (tx) =>
      writeConsent(tx, { contactId: 'known-1', channel: 'email', status: 'subscribed', source: 'support' }),
    );
    expect(next.changed).toBe(true);
  });
});

describe('policy (pure)', () => {
  test('CONSENT_EMAIL is opt_out unless set to opt_in; anything else is an error naming it', () => {
    expect(emailPolicyFrom(undefined)).toBe('opt_out');
    expect(emailPolicyFrom(' OPT_IN ')).toBe('opt_in');
    expect(() => emailPolicyFrom('yes')).toThrow(/CONSENT_EMAIL/);
  });

  test('push needs subscribed; pending email passes under opt_out only', () => {
    expect(marketingRefusal('push', 'never_asked', { emailPolicy: 'opt_out', requireSubscribed: false })).toMatch(
      /no push consent/,
    );
    expect(marketingRefusal('email', 'pending', { emailPolicy: 'opt_out', requireSubscribed: false })).toBeUndefined();
    expect(marketingRefusal('email', 'pending', { emailPolicy: 'opt_in', requireSubscribed: false })).toMatch(/opt_in/);
  });

  test('identify traits carry consent per channel', () => {
    expect(consentFromTraits({ consent: { email: 'subscribed', sms: false, push: 'whatever', fax: true } })).toEqual({
      email: 'subscribed',
      sms: 'unsubscribed',
    });
    expect(consentFromTraits({ consent: 'yes' })).toEqual({});
  });
});

describe('every consent write suppresses the address as the policy says', () => {
  beforeAll(() =>
    h.putFlow(
      'consent-news',
      flow('Newsletter Out', [{ id: 'news', type: 'email', subject: 'News', html: '<p>N</p>' }]),
    ),
  );
  const importCsv = (csv: string) => h.http('post', '/v1/contacts/import').set('Content-Type', 'text/csv').send(csv);

  test('an imported opt-out is suppressed: another contact with the address gets no marketing, nor after erasure', async () => {
    const address = 'imported.out@example.com';
    const imported = await importCsv(`email,first_name,email_consent\n${address},Ines,unsubscribed\n`);
    expect(imported.body).toMatchObject({ status: 'done', rowsStored: 1 });

    // The same person signs up again under another id (never asked, CONSENT_EMAIL=opt_out): the opt-out still holds.
    await h.identify('imp-signup', { email: address.toUpperCase() });
    await run('consent-news', 'Newsletter Out', 'imp-signup');
    expect(await messageOf('imp-signup', 'news')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });

    // Both contacts erased, the address comes back once more: still suppressed, and only as a hash.
    for (const id of [address, 'imp-signup']) expect((await h.http('delete', `/v1/contacts/${id}`)).status).toBe(200);
    expect((await h.db.query('SELECT 1 FROM suppressions WHERE address = $1', [address])).rowCount).toBe(0);
    await h.identify('imp-again', { email: address });
    await run('consent-news', 'Newsletter Out', 'imp-again');
    expect(await messageOf('imp-again', 'news')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });
    expect(emailsTo(address)).toEqual([]);

    // An explicit opt-in is the person's new decision: it lifts the marketing suppression, the erased hash included.
    await putConsent('imp-again', 'email', { status: 'subscribed', source: 'signup_form' });
    await run('consent-news', 'Newsletter Out', 'imp-again');
    expect(emailsTo(address)).toEqual(['News']);
  });

  test('an opt-out by identify traits or by the API suppresses the address for the next contact that has it', async () => {
    await h.identify('trait-out', { email: 'trait.out@example.com', consent: { email: false } });
    await h.identify('api-out', { email: 'api.out@example.com' });
    await putConsent('api-out', 'email', { status: 'unsubscribed', source: 'support' });
    const { rows } = await h.db.query(
      "SELECT address, scope, reason FROM suppressions WHERE address IN ('trait.out@example.com', 'api.out@example.com') ORDER BY address",
    );
    expect(rows).toEqual([
      { address: 'api.out@example.com', scope: 'marketing', reason: 'unsubscribed (support)' },
      { address: 'trait.out@example.com', scope: 'marketing', reason: 'unsubscribed (identify)' },
    ]);
    await h.identify('trait-next', { email: 'trait.out@example.com' });
    await run('consent-news', 'Newsletter Out', 'trait-next');
    expect(await messageOf('trait-next', 'news')).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });
  });
});

describe('suppression after a consent decision (pure)', () => {
  test('opt-outs suppress (a carrier STOP everything), opt-ins lift, pending changes nothing', () => {
    expect(suppressionAfter({ status: 'unsubscribed', source: 'import:1' })).toEqual({
      kind: 'suppress',
      scope: 'marketing',
      reason: 'unsubscribed (import:1)',
    });
    expect(suppressionAfter({ status: 'unsubscribed', source: smsKeywordSource('stopall') })).toEqual({
      kind: 'suppress',
      scope: 'all',
      reason: 'SMS keyword STOPALL',
    });
    expect(suppressionAfter({ status: 'unsubscribed', source: 'spam_report' })).toMatchObject({
      reason: 'spam report',
    });
    expect(suppressionAfter({ status: 'subscribed', source: 'api' })).toEqual({ kind: 'lift', scope: 'marketing' });
    expect(suppressionAfter({ status: 'subscribed', source: smsKeywordSource('START') })).toEqual({
      kind: 'lift',
      scope: 'all',
    });
    expect(suppressionAfter({ status: 'pending', source: 'api' })).toEqual({ kind: 'none' });
  });
});
