/**
 * Shopify's marketing consent is the customer's consent: `email_marketing_consent` and `sms_marketing_consent` on
 * customers, checkouts and orders are recorded through the one consent write with Shopify's proof (source shopify,
 * the time the customer decided, the opt-in level), under CONSENT_EMAIL=opt_in (EU rules), with signed webhooks.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { parse, stringify } from 'lossless-json';
import supertest from 'supertest';
import type { FlowInput } from '../flows/schema';
import { waitFor } from './helpers/fake-http';
import { Harness, TEST_WEBHOOKS } from './helpers/harness';

const SECRET = 'shpss_consent_secret';
type Json = Record<string, unknown>;
const fixture = (name: string) => readFileSync(path.join(__dirname, 'fixtures/shopify', name), 'utf8');
const edit = (text: string, change: (payload: Json) => void): string => {
  const payload = parse(text) as Json;
  change(payload);
  return stringify(payload) as string;
};

let h: Harness;
let app: Express;
let seq = 0;
/** The test's clock at start: consent times are set from it, never from today's date. */
let startMs: number;
const isoAt = (hoursFromStart: number) => new Date(startMs + hoursFromStart * 3_600_000).toISOString();

beforeAll(async () => {
  h = await Harness.start({ consentEmail: 'opt_in' });
  app = h.appWith({ webhooks: { ...TEST_WEBHOOKS, shopifySecret: SECRET } });
  startMs = await h.env.currentTimeMs();
  await h.putFlow('cart-reminder', {
    name: 'Cart reminder',
    status: 'live',
    trigger: { event: 'Checkout Started' },
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '1 hour' },
      { id: 'reminder', type: 'email', subject: 'You left something', html: '<p>Your cart</p>' },
    ],
  } satisfies FlowInput);
});
afterAll(() => h?.stop());

async function deliver(topic: string, body: string) {
  seq += 1;
  const res = await supertest(app)
    .post('/v1/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', topic)
    .set('X-Shopify-Hmac-Sha256', createHmac('sha256', SECRET).update(Buffer.from(body)).digest('base64'))
    .set('X-Shopify-Shop-Domain', 'consent.myshopify.com')
    .set('X-Shopify-Webhook-Id', `consent-webhook-${seq}`)
    .set('X-Shopify-Event-Id', `${9000 + seq}`)
    .set('X-Shopify-Triggered-At', new Date(await h.env.currentTimeMs()).toISOString())
    .send(body);
  expect(res.status).toBe(200);
  return res;
}

const emailConsent = (state: string, at: string) => ({
  state,
  opt_in_level: 'single_opt_in',
  consent_updated_at: at,
});

/** Shopify's checkout sample, for customer `id` with this email consent. */
const checkoutOf = (id: string, email: string, consent: Json) =>
  edit(fixture('checkouts-create.json'), (c) => {
    c.token = `checkout-${id}`;
    c.customer = { ...(c.customer as Json), id: parse(id), email, email_marketing_consent: consent };
  });

const consentOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}/consent`)).body;

test('a checkout whose buyer subscribed in Shopify gets the abandoned-cart email; the consent keeps its proof', async () => {
  const id = '6038519707167001';
  await deliver('checkouts/create', checkoutOf(id, 'subscriber@example.com', emailConsent('subscribed', isoAt(-24))));

  const consent = await consentOf(id);
  expect(consent.channels.email).toMatchObject({ status: 'subscribed', source: 'shopify', changedAt: isoAt(-24) });
  expect(consent.history.at(-1).properties).toMatchObject({
    channel: 'email',
    status: 'subscribed',
    source: 'shopify',
    proof: { opt_in_level: 'single_opt_in', consent_updated_at: isoAt(-24), topic: 'checkouts/create' },
  });

  await h.env.sleep('2 hours');
  expect(await h.result('cart-reminder', id)).toMatchObject({ status: 'completed' });
  await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'subscriber@example.com'), 'the cart reminder');
});

test('a checkout whose buyer unsubscribed in Shopify gets no abandoned-cart email (the address is suppressed too)', async () => {
  const id = '6038519707167002';
  await deliver('checkouts/create', checkoutOf(id, 'gone@example.com', emailConsent('unsubscribed', isoAt(-2))));
  expect((await consentOf(id)).channels.email).toMatchObject({ status: 'unsubscribed', source: 'shopify' });

  await h.env.sleep('2 hours');
  await h.result('cart-reminder', id);
  const reminder = (await h.http('get', `/v1/contacts/${id}/messages`)).body.messages.find(
    (m: { stepId: string }) => m.stepId === 'reminder',
  );
  // The unsubscribe suppressed the address for marketing: the send path says so first.
  expect(reminder).toMatchObject({ status: 'skipped', reason: 'address is suppressed' });
  expect(
    (await h.db.query("SELECT scope FROM suppressions WHERE channel = 'email' AND address = 'gone@example.com'")).rows,
  ).toEqual([{ scope: 'marketing' }]);
  expect(h.sendgrid.emails.filter((e) => e.to === 'gone@example.com')).toEqual([]);
});

test('an order carrying the consent of before a later unsubscribe changes nothing; a newer decision does', async () => {
  const id = '6038519707167003';
  await deliver(
    'customers/create',
    edit(fixture('customers-create.json'), (c) => {
      c.id = parse(id);
      c.email = 'late@example.com';
      c.email_marketing_consent = emailConsent('subscribed', isoAt(-48));
    }),
  );
  expect((await consentOf(id)).channels.email.status).toBe('subscribed');
  // The customer unsubscribes through our link (now), then an order arrives still carrying Shopify's old state.
  await h.http('put', `/v1/contacts/${id}/consent/email`).send({ status: 'unsubscribed', source: 'unsubscribe' });
  const order = (consent: Json, orderId: string) =>
    edit(fixture('orders-create.json'), (o) => {
      o.id = parse(orderId);
      o.customer = { id: parse(id), email: 'late@example.com', email_marketing_consent: consent };
    });
  await deliver('orders/create', order(emailConsent('subscribed', isoAt(-48)), '5550001'));
  expect((await consentOf(id)).channels.email).toMatchObject({ status: 'unsubscribed', source: 'unsubscribe' });

  // A decision taken in Shopify after ours is the customer's latest word.
  const later = new Date((await h.env.currentTimeMs()) + 60_000).toISOString();
  await deliver('orders/create', order(emailConsent('subscribed', later), '5550002'));
  expect((await consentOf(id)).channels.email).toMatchObject({ status: 'subscribed', source: 'shopify' });
});

test('SMS marketing consent on an order is recorded per channel, with where it was collected', async () => {
  const id = '6038519707167004';
  await deliver(
    'orders/create',
    edit(fixture('orders-create.json'), (o) => {
      o.id = parse('5550003');
      o.customer = {
        id: parse(id),
        email: 'texts@example.com',
        phone: '+33655501234',
        email_marketing_consent: emailConsent('not_subscribed', isoAt(-1)),
        sms_marketing_consent: {
          state: 'subscribed',
          opt_in_level: 'confirmed_opt_in',
          consent_updated_at: isoAt(-1),
          consent_collected_from: 'SHOPIFY',
        },
      };
    }),
  );
  const consent = await consentOf(id);
  // not_subscribed is no decision: nothing recorded for email.
  expect(consent.channels.email.status).toBe('never_asked');
  expect(consent.channels.sms).toMatchObject({ status: 'subscribed', source: 'shopify', changedAt: isoAt(-1) });
  expect(consent.history.at(-1).properties.proof).toMatchObject({
    opt_in_level: 'confirmed_opt_in',
    consent_collected_from: 'SHOPIFY',
    topic: 'orders/create',
  });
});
