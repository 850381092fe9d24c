/**
 * Shopify's webhooks, signed as Shopify signs them, against the real API, Temporal test
 * server and Postgres: Shopify's documented payloads become Segment e-commerce events, an
 * abandoned checkout enters a flow keyed on the cart and the order of that checkout ends it.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { parse, stringify } from 'lossless-json';
import supertest from 'supertest';
import { listIdsOf } from '../db/lists';
import type { FlowInput } from '../flows/schema';
import { journeyWorkflowId } from '../runtime/journey-identity';
import { waitFor } from './helpers/fake-http';
import { Harness, TEST_WEBHOOKS } from './helpers/harness';

const SECRET = 'shpss_test_secret';
const fixture = (name: string) => readFileSync(path.join(__dirname, 'fixtures/shopify', name), 'utf8');
// lossless-json keeps Shopify's 18-digit ids exact when a test edits a payload.
type Json = Record<string, unknown>;
const edit = (text: string, change: (payload: Json) => void): string => {
  const payload = parse(text) as Json;
  change(payload);
  return stringify(payload) as string;
};

const CHECKOUT = fixture('checkouts-create.json');
const CHECKOUT_CUSTOMER = '603851970716743426';
const CHECKOUT_TOKEN = '123123123';
/** Shopify's order sample, made the order of the checkout sample: its checkout_token and customer. */
const ORDER_OF_CHECKOUT = edit(fixture('orders-create.json'), (order) => {
  const checkout = parse(CHECKOUT) as Json;
  order.checkout_token = checkout.token;
  order.customer = checkout.customer;
  order.cancel_reason = null;
  order.cancelled_at = null;
  order.financial_status = 'paid';
});

let h: Harness;
let app: Express;
let webhookSeq = 0;

beforeAll(async () => {
  h = await Harness.start();
  app = h.appWith({ webhooks: { ...TEST_WEBHOOKS, shopifySecret: SECRET } });
});
afterAll(() => h?.stop());
beforeEach(() => h.sendgrid.reset());

interface Delivery {
  webhookId?: string;
  /** X-Shopify-Event-Id: the same for one event under several subscriptions. */
  eventId?: string;
  secret?: string;
  signature?: string;
}

/** Posts like Shopify: the body as bytes, its HMAC, the topic, a delivery id and when it was triggered. */
async function deliver(topic: string, body: string, opts: Delivery = {}) {
  const signature =
    opts.signature ??
    createHmac('sha256', opts.secret ?? SECRET)
      .update(Buffer.from(body))
      .digest('base64');
  const request = supertest(app)
    .post('/v1/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', topic)
    .set('X-Shopify-Hmac-Sha256', signature)
    .set('X-Shopify-Shop-Domain', 'snowdevil.myshopify.com')
    .set('X-Shopify-API-Version', '2026-07')
    .set(
      'X-Shopify-Webhook-Id',
      opts.webhookId ?? `b54557e4-8a5f-4f7d-b0bc-d043${String(++webhookSeq).padStart(8, '0')}`,
    )
    .set('X-Shopify-Triggered-At', new Date(await h.env.currentTimeMs()).toISOString());
  return (opts.eventId ? request.set('X-Shopify-Event-Id', opts.eventId) : request).send(body);
}

const countEvents = async () => Number((await h.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);
const eventsOf = async (contactId: string) =>
  (
    await h.db.query<{ name: string | null; type: string; message_id: string; properties: Json; context: Json }>(
      'SELECT name, type, message_id, properties, context FROM events WHERE contact_id = $1 ORDER BY id',
      [contactId],
    )
  ).rows;
const contact = async (id: string) =>
  (await h.db.query<{ traits: Json; email: string | null }>('SELECT * FROM contacts WHERE id = $1', [id])).rows[0];

const abandonedCheckout: FlowInput = {
  name: 'Shopify abandoned checkout',
  status: 'live',
  trigger: { event: 'Checkout Started' },
  journeyKey: 'cart_id',
  exitWhen: [
    { event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }] },
  ],
  smartSending: { enabled: false },
  steps: [
    { id: 'wait-1h', type: 'delay', duration: '1 hour' },
    {
      id: 'reminder-1',
      type: 'email',
      subject: '{{ contact.firstName }}, you left {{ event.properties.products | size }} items',
      html: '<p>{% for p in event.properties.products %}{{ p.name }} {{ p.price }};{% endfor %}</p><a href="{{ event.properties.abandoned_checkout_url }}">Back to your checkout</a>',
    },
    { id: 'wait-24h', type: 'delay', duration: '24 hours' },
    {
      id: 'reminder-2',
      type: 'email',
      subject: 'Last call',
      html: '<p>{{ event.properties.total }} {{ event.properties.currency }}</p>',
    },
  ],
};

test('a checkouts/create enters the cart-keyed flow, and the orders/create of that checkout ends it: the second email is never sent', async () => {
  await h.putFlow('shopify-cart', abandonedCheckout);

  const started = await deliver('checkouts/create', CHECKOUT);
  expect(started.status).toBe(200);
  expect(started.body).toMatchObject({
    topic: 'checkouts/create',
    stored: [{ event: 'Checkout Started', contactId: CHECKOUT_CUSTOMER, duplicate: false, routing: 'done' }],
  });
  const [checkoutEvent] = await eventsOf(CHECKOUT_CUSTOMER);
  expect(checkoutEvent.properties).toMatchObject({
    cart_id: CHECKOUT_TOKEN,
    total: 421.88,
    currency: 'USD',
    abandoned_checkout_url: 'https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token',
    products: [
      {
        product_id: '632910392',
        variant_id: '808950810',
        sku: 'IPOD2008PINK',
        name: 'IPod Nano - 8GB',
        brand: 'Apple',
        variant: 'Pink',
        price: 199,
        quantity: 1,
      },
      { product_id: '632910392', name: 'IPod Nano - 8GB', price: 199, quantity: 1 },
    ],
  });
  // The checkout's customer becomes a contact we can write to.
  expect(await contact(CHECKOUT_CUSTOMER)).toMatchObject({
    email: 'john@example.com',
    traits: { firstName: 'John', lastName: 'Smith' },
  });

  const journey = h.env.client.workflow.getHandle(journeyWorkflowId('shopify-cart', CHECKOUT_CUSTOMER, CHECKOUT_TOKEN));
  await h.env.sleep('2 hours');
  await waitFor(() => h.sendgrid.emails.length === 1, 'the first reminder');
  const [first] = h.sendgrid.emails;
  expect(first).toMatchObject({ to: 'john@example.com', subject: 'John, you left 2 items' });
  expect(first.html).toContain(
    'href="https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"',
  );

  const ordered = await deliver('orders/create', ORDER_OF_CHECKOUT);
  expect(ordered.status).toBe(200);
  expect(ordered.body).toMatchObject({
    stored: [{ event: 'Order Completed', contactId: CHECKOUT_CUSTOMER, duplicate: false }],
  });
  const result = await journey.result();

  expect(result).toMatchObject({
    status: 'exited',
    exit: { reason: 'flow_filter', event: { name: 'Order Completed' } },
  });
  expect(h.sendgrid.emails.map((e) => e.subject)).toEqual(['John, you left 2 items']);
  const order = (await eventsOf(CHECKOUT_CUSTOMER)).find((e) => e.name === 'Order Completed');
  expect(order?.properties).toMatchObject({
    order_id: '820982911946154508',
    order_number: '#9999',
    cart_id: CHECKOUT_TOKEN,
    total: 404.95,
    revenue: 404.95,
    shipping: 10,
    discount: 20,
    currency: 'USD',
  });
  expect((order!.properties.products as Json[]).map((p) => p.name)).toEqual([
    'Aviator sunglasses',
    'Lens Protection Plan (2 Year)',
    'Premium Leather Case',
    'Mid-century lounger',
    'Coffee table',
  ]);
  await h.http('post', '/v1/flows/shopify-cart/archive');
});

test('a signature made with another secret gets 401 and stores nothing; so does a missing one', async () => {
  const before = await countEvents();
  const forged = await deliver('orders/create', ORDER_OF_CHECKOUT, { secret: 'not-the-secret' });
  expect(forged.status).toBe(401);
  expect(forged.body.error).toMatchObject({ code: 'invalid_signature' });
  const tampered = await deliver('orders/create', ORDER_OF_CHECKOUT.replace('404.95', '0.01'), {
    signature: createHmac('sha256', SECRET).update(ORDER_OF_CHECKOUT).digest('base64'),
  });
  expect(tampered.status).toBe(401);
  const unsigned = await supertest(app)
    .post('/v1/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', 'orders/create')
    .send(ORDER_OF_CHECKOUT);
  expect(unsigned.status).toBe(401);
  expect(await countEvents()).toBe(before);
});

test('the same webhook id delivered twice (a Shopify retry) is stored once', async () => {
  const body = edit(ORDER_OF_CHECKOUT, (o) => {
    o.id = parse('920982911946154508');
    o.checkout_token = 'retry-checkout';
  });
  const webhookId = '7d5a3c29-6d9f-4c1b-9a51-2f3e5b0c9a11';
  const first = await deliver('orders/create', body, { webhookId });
  const before = await countEvents();
  const retry = await deliver('orders/create', body, { webhookId });

  expect(first.body.stored).toEqual([expect.objectContaining({ duplicate: false })]);
  expect(retry.status).toBe(200);
  expect(retry.body.stored).toEqual([
    expect.objectContaining({ duplicate: true, eventId: first.body.stored[0].eventId }),
  ]);
  expect(await countEvents()).toBe(before);
  const orders = (await eventsOf(CHECKOUT_CUSTOMER)).filter((e) => e.properties.order_id === '920982911946154508');
  expect(orders).toHaveLength(1);
});

test('one order delivered under two subscriptions (two webhook ids) counts once in orderCount and totalSpent', async () => {
  const buyer = '603851970716749999';
  const order = edit(ORDER_OF_CHECKOUT, (o) => {
    o.id = parse('930982911946154508');
    o.checkout_token = 'twice-checkout';
    o.customer = { ...(o.customer as Json), id: parse(buyer) };
  });
  // Same event under two subscriptions: two webhook ids, one X-Shopify-Event-Id.
  const first = await deliver('orders/create', order, { eventId: '88001' });
  const second = await deliver('orders/create', order, { eventId: '88001' });
  // The same order again under another event (an app's second subscription, a replay): still one order.
  const third = await deliver('orders/create', order);
  expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
  expect(first.body.stored).toEqual([expect.objectContaining({ duplicate: false })]);
  expect([second.body.stored[0].duplicate, third.body.stored[0].duplicate]).toEqual([true, true]);
  expect((await h.http('get', `/v1/contacts/${buyer}`)).body.computed).toMatchObject({
    orderCount: 1,
    totalSpent: 404.95,
  });

  // A customers/update under two subscriptions is one identify.
  const customer = edit(fixture('customers-update.json'), (c) => (c.id = parse(buyer)));
  await deliver('customers/update', customer, { eventId: '88002' });
  await deliver('customers/update', customer, { eventId: '88002' });
  expect((await eventsOf(buyer)).filter((e) => e.type === 'identify')).toHaveLength(1);
});

test('a checkouts/update with completed_at is not a new Checkout Started; one without it is', async () => {
  const completed = edit(CHECKOUT, (c) => {
    c.token = 'completed-checkout';
    c.completed_at = '2022-01-01T10:00:00-05:00';
  });
  const ignored = await deliver('checkouts/update', completed);
  expect(ignored.status).toBe(200);
  expect(ignored.body).toEqual({ topic: 'checkouts/update', ignored: expect.stringContaining('completed') });
  expect((await eventsOf(CHECKOUT_CUSTOMER)).filter((e) => e.properties.cart_id === 'completed-checkout')).toEqual([]);

  const updated = await deliver(
    'checkouts/update',
    edit(CHECKOUT, (c) => (c.token = 'updated-checkout')),
  );
  expect(updated.body.stored).toEqual([expect.objectContaining({ event: 'Checkout Started' })]);
});

test('a guest checkout (no customer) is keyed by its email, and its order meets it in the same contact', async () => {
  const guestCheckout = edit(CHECKOUT, (c) => {
    c.token = 'guest-checkout';
    c.customer = null;
    c.email = 'Guest.Buyer@Example.com';
  });
  const guestOrder = edit(ORDER_OF_CHECKOUT, (o) => {
    o.id = parse('720982911946154508');
    o.checkout_token = 'guest-checkout';
    o.customer = null;
    o.email = 'guest.buyer@example.com';
  });
  const started = await deliver('checkouts/create', guestCheckout);
  expect((await contact('guest.buyer@example.com')).email).toBe('guest.buyer@example.com');
  const ordered = await deliver('orders/create', guestOrder);

  expect(started.body.stored[0].contactId).toBe('guest.buyer@example.com');
  expect(ordered.body.stored[0].contactId).toBe('guest.buyer@example.com');
  expect((await eventsOf('guest.buyer@example.com')).map((e) => e.name)).toEqual([
    'Checkout Started',
    'Order Completed',
  ]);
});

test('orders/paid is an event of its own, and refunds/create becomes Order Refunded for the contact of the order', async () => {
  const paid = await deliver('orders/paid', ORDER_OF_CHECKOUT);
  expect(paid.body.stored).toEqual([expect.objectContaining({ event: 'Order Paid', contactId: CHECKOUT_CUSTOMER })]);

  const refunded = await deliver('refunds/create', fixture('refunds-create.json'));
  expect(refunded.status).toBe(200);
  expect(refunded.body.stored).toEqual([
    expect.objectContaining({ event: 'Order Refunded', contactId: CHECKOUT_CUSTOMER }),
  ]);
  const refund = (await eventsOf(CHECKOUT_CUSTOMER)).find((e) => e.name === 'Order Refunded');
  expect(refund?.properties).toMatchObject({
    order_id: '820982911946154508',
    refund_id: '890088186047892319',
    total: 85,
    currency: 'USD',
    reason: 'Things were damaged',
  });
  expect(refund?.properties.products).toHaveLength(5);

  // A refund of an order that never reached us names nobody: acknowledged, not stored.
  const before = await countEvents();
  const unknown = await deliver(
    'refunds/create',
    edit(fixture('refunds-create.json'), (r) => (r.order_id = parse('111111111111111111'))),
  );
  expect(unknown.status).toBe(200);
  expect(unknown.body.ignored).toMatch(/111111111111111111/);
  expect(await countEvents()).toBe(before);
});

test('customers/create identifies and tracks Signed Up; customers/update carries the email marketing consent', async () => {
  const created = await deliver('customers/create', fixture('customers-create.json'));
  expect(created.status).toBe(200);
  expect(created.body.stored.map((s: { type: string; event?: string }) => s.event ?? s.type)).toEqual([
    'identify',
    'Signed Up',
  ]);
  expect(await contact('706405506930370084')).toMatchObject({
    email: 'bob@biller.com',
    traits: {
      firstName: 'Bob',
      lastName: 'Biller',
      shopify_customer_id: '706405506930370084',
      address: { city: 'Ottawa', country: 'CA', postalCode: 'K2P 2L8' },
    },
  });

  const updated = await deliver('customers/update', fixture('customers-update.json'));
  expect(updated.body.stored).toEqual([expect.objectContaining({ type: 'identify', contactId: '706405506930370084' })]);
  expect((await contact('706405506930370084')).traits).toMatchObject({
    email_marketing_consent: 'unsubscribed',
    email_marketing_opt_in_level: 'single_opt_in',
  });
  // Shopify's unsubscribed is the contact's decision: recorded as consent, with its stored event.
  expect((await eventsOf('706405506930370084')).map((e) => e.name ?? e.type)).toEqual([
    'identify',
    'Signed Up',
    'identify',
    'Consent Changed',
  ]);
});

test('Shopify email marketing consent keeps the newsletter list in step: subscribed joins, unsubscribed leaves (source shopify)', async () => {
  await h.db.query("INSERT INTO lists (id, name) VALUES ('newsletter', 'Newsletter') ON CONFLICT DO NOTHING");
  const subscribed = edit(fixture('customers-create.json'), (c) => {
    c.id = 7064055069303700;
    c.email = 'news@example.com';
    c.email_marketing_consent = {
      state: 'subscribed',
      opt_in_level: 'single_opt_in',
      consent_updated_at: '2022-01-01T10:00:00-05:00',
    };
  });
  expect((await deliver('customers/create', subscribed)).status).toBe(200);
  expect(await listIdsOf(h.db, '7064055069303700')).toEqual(['newsletter']);
  const unsubscribed = edit(subscribed, (c) => {
    c.email_marketing_consent = {
      state: 'unsubscribed',
      opt_in_level: 'single_opt_in',
      consent_updated_at: '2022-01-02T10:00:00-05:00',
    };
  });
  expect((await deliver('customers/update', unsubscribed)).status).toBe(200);
  expect(await listIdsOf(h.db, '7064055069303700')).toEqual([]);
  expect(
    (await eventsOf('7064055069303700'))
      .filter((e) => e.name?.startsWith('List '))
      .map((e) => [e.name, e.properties.source]),
  ).toEqual([
    ['List Joined', 'shopify'],
    ['List Left', 'shopify'],
  ]);
  expect((await contact('7064055069303700')).traits.lists).toBeUndefined();
  // The decision is also the contact's email consent, recorded through the one consent write: the address is
  // suppressed for marketing, as after any other unsubscribe.
  expect((await h.http('get', '/v1/contacts/7064055069303700/consent')).body.channels.email).toMatchObject({
    status: 'unsubscribed',
    source: 'shopify',
  });
  expect(
    (await h.db.query("SELECT scope FROM suppressions WHERE channel = 'email' AND address = 'news@example.com'")).rows,
  ).toEqual([{ scope: 'marketing' }]);
});

test('topics we do not map are acknowledged with 200 and store nothing; a payload missing what its topic needs is a 400', async () => {
  const before = await countEvents();
  const product = await deliver('products/create', '{"id":788032119674292922,"title":"Example T-Shirt"}');
  expect(product.status).toBe(200);
  expect(product.body).toEqual({ topic: 'products/create', ignored: 'topic not mapped' });

  const broken = await deliver('orders/create', '{"name":"#1"}');
  expect(broken.status).toBe(400);
  expect(broken.body.error.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: ['id'] })]));
  const notJson = await deliver('orders/create', 'not json');
  expect(notJson.status).toBe(400);
  expect(await countEvents()).toBe(before);
});

test('without SHOPIFY_WEBHOOK_SECRET the route answers 404', async () => {
  const signature = createHmac('sha256', SECRET).update(ORDER_OF_CHECKOUT).digest('base64');
  const res = await supertest(h.app)
    .post('/v1/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', 'orders/create')
    .set('X-Shopify-Hmac-Sha256', signature)
    .send(ORDER_OF_CHECKOUT);
  expect(res.status).toBe(404);
  expect(res.body.error.code).toBe('not_configured');
});
