/**
 * WooCommerce's webhooks, signed as WooCommerce signs them, against the real API and Postgres:
 * the documented order and customer resources become Segment e-commerce events and traits.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import supertest from 'supertest';
import { Harness, TEST_WEBHOOKS } from './helpers/harness';

const SECRET = 'wc-webhook-secret';
type Json = Record<string, unknown>;
const fixture = (name: string): Json =>
  JSON.parse(readFileSync(path.join(__dirname, 'fixtures/woocommerce', name), 'utf8'));
const ORDER = fixture('order.json');
const CUSTOMER = fixture('customer.json');

let h: Harness;
let app: Express;
let deliverySeq = 0;

beforeAll(async () => {
  h = await Harness.start();
  app = h.appWith({ webhooks: { ...TEST_WEBHOOKS, woocommerceSecret: SECRET } });
});
afterAll(() => h?.stop());

/** Posts like WooCommerce: JSON body, base64 HMAC-SHA256 of it, topic, resource and a delivery id. */
function deliver(topic: string, payload: Json | string, opts: { deliveryId?: string; secret?: string } = {}) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const [resource, event] = topic.split('.');
  return supertest(app)
    .post('/v1/webhooks/woocommerce')
    .set('Content-Type', 'application/json')
    .set('User-Agent', 'WooCommerce/9.8.0 Hookshot (WordPress/6.8)')
    .set('X-WC-Webhook-Source', 'https://example.com/')
    .set('X-WC-Webhook-Topic', topic)
    .set('X-WC-Webhook-Resource', resource)
    .set('X-WC-Webhook-Event', event)
    .set('X-WC-Webhook-ID', '12')
    .set('X-WC-Webhook-Delivery-ID', opts.deliveryId ?? `d${++deliverySeq}`)
    .set(
      'X-WC-Webhook-Signature',
      createHmac('sha256', opts.secret ?? SECRET)
        .update(body)
        .digest('base64'),
    )
    .send(body);
}

const countEvents = async () => Number((await h.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);
const eventsOf = async (contactId: string) =>
  (
    await h.db.query<{ name: string | null; type: string; occurred_at: Date; properties: Json }>(
      'SELECT name, type, occurred_at, properties FROM events WHERE contact_id = $1 ORDER BY id',
      [contactId],
    )
  ).rows;
const contact = async (id: string) =>
  (
    await h.db.query<{ email: string | null; phone: string | null; traits: Json }>(
      'SELECT * FROM contacts WHERE id = $1',
      [id],
    )
  ).rows[0];

test('a processing guest order becomes one Order Completed for its billing email, however many order.updated follow', async () => {
  const created = await deliver('order.created', ORDER);
  expect(created.status).toBe(200);
  expect(created.body).toMatchObject({
    topic: 'order.created',
    stored: [{ event: 'Order Completed', contactId: 'john.doe@example.com', duplicate: false }],
  });

  const [order] = await eventsOf('john.doe@example.com');
  expect(order.name).toBe('Order Completed');
  expect(order.properties).toEqual({
    order_id: '727',
    order_number: '727',
    total: 29.35,
    revenue: 18,
    shipping: 10,
    tax: 1.35,
    discount: 0,
    currency: 'USD',
    status: 'processing',
    products: [
      { product_id: '93', name: 'Woo Single #1', price: 3, quantity: 2 },
      {
        product_id: '22',
        variant_id: '23',
        sku: 'Bar3',
        name: 'Ship Your Idea &ndash; Color: Black, Size: M Test',
        price: 12,
        quantity: 1,
      },
    ],
  });
  // When it was paid (date_paid_gmt), not when the webhook arrived.
  expect(order.occurred_at.toISOString()).toBe('2017-03-22T19:28:08.000Z');
  expect(await contact('john.doe@example.com')).toMatchObject({
    email: 'john.doe@example.com',
    traits: { firstName: 'John', lastName: 'Doe' },
  });

  // The shop completes the order, then edits it: the order was completed once.
  const completed = await deliver('order.updated', {
    ...ORDER,
    status: 'completed',
    date_completed_gmt: '2017-03-23T10:00:00',
  });
  const edited = await deliver('order.updated', { ...ORDER, status: 'completed', customer_note: 'leave at the door' });
  expect(completed.body.stored).toEqual([expect.objectContaining({ duplicate: true })]);
  expect(edited.body.stored).toEqual([expect.objectContaining({ duplicate: true })]);
  expect((await eventsOf('john.doe@example.com')).map((e) => e.name)).toEqual(['Order Completed']);
});

test('a registered customer: customer.created identifies with traits and tracks Signed Up; their order meets the same contact', async () => {
  const created = await deliver('customer.created', CUSTOMER);
  expect(created.status).toBe(200);
  expect(created.body.stored.map((s: { type: string; event?: string }) => s.event ?? s.type)).toEqual([
    'identify',
    'Signed Up',
  ]);
  expect(await contact('25')).toMatchObject({
    email: 'john.doe@example.com',
    traits: {
      firstName: 'John',
      lastName: 'Doe',
      username: 'john.doe',
      woocommerce_role: 'customer',
      is_paying_customer: false,
      address: { street: '969 Market', city: 'San Francisco', state: 'CA', postalCode: '94103', country: 'US' },
    },
  });

  const updated = await deliver('customer.updated', { ...CUSTOMER, first_name: 'Johnny', is_paying_customer: true });
  expect(updated.body.stored).toEqual([expect.objectContaining({ type: 'identify', contactId: '25' })]);
  expect((await contact('25')).traits).toMatchObject({ firstName: 'Johnny', is_paying_customer: true });

  const ordered = await deliver('order.created', { ...ORDER, id: 728, number: '728', customer_id: 25 });
  expect(ordered.body.stored).toEqual([expect.objectContaining({ event: 'Order Completed', contactId: '25' })]);
  expect((await eventsOf('25')).map((e) => e.name ?? e.type)).toEqual([
    'identify',
    'Signed Up',
    'identify',
    'Order Completed',
  ]);
});

test('a pending order is acknowledged and stores nothing until it is paid; a refunded order becomes Order Refunded once', async () => {
  const before = await countEvents();
  const pending = await deliver('order.created', { ...ORDER, id: 729, status: 'pending', date_paid_gmt: null });
  expect(pending.status).toBe(200);
  expect(pending.body).toEqual({ topic: 'order.created', ignored: 'order status pending' });
  expect(await countEvents()).toBe(before);

  const paid = await deliver('order.updated', { ...ORDER, id: 729, status: 'processing' });
  expect(paid.body.stored).toEqual([expect.objectContaining({ event: 'Order Completed', duplicate: false })]);
  const refund = { ...ORDER, id: 729, status: 'refunded', refunds: [{ id: 730, reason: 'damaged', total: '-29.35' }] };
  const refunded = await deliver('order.updated', refund);
  const again = await deliver('order.updated', refund);
  expect(refunded.body.stored).toEqual([expect.objectContaining({ event: 'Order Refunded', duplicate: false })]);
  expect(again.body.stored).toEqual([expect.objectContaining({ duplicate: true })]);
  const events = (await eventsOf('john.doe@example.com')).filter((e) => e.properties.order_id === '729');
  expect(events.map((e) => [e.name, e.properties.total])).toEqual([
    ['Order Completed', 29.35],
    ['Order Refunded', 29.35],
  ]);
});

test('the same delivery id twice is stored once', async () => {
  const first = await deliver(
    'customer.updated',
    { ...CUSTOMER, id: 26, email: 'ann@example.com' },
    { deliveryId: 'retry-1' },
  );
  const before = await countEvents();
  const retry = await deliver(
    'customer.updated',
    { ...CUSTOMER, id: 26, email: 'ann@example.com' },
    { deliveryId: 'retry-1' },
  );
  expect(retry.body.stored).toEqual([
    expect.objectContaining({ duplicate: true, eventId: first.body.stored[0].eventId }),
  ]);
  expect(await countEvents()).toBe(before);
});

test('a wrong signature gets 401 and stores nothing; the ping WooCommerce sends when a webhook is saved gets 200', async () => {
  const before = await countEvents();
  const forged = await deliver('order.created', { ...ORDER, id: 731 }, { secret: 'wrong' });
  expect(forged.status).toBe(401);
  expect(forged.body.error.code).toBe('invalid_signature');

  const ping = await supertest(app).post('/v1/webhooks/woocommerce').type('form').send('webhook_id=12');
  expect(ping.status).toBe(200);
  expect(await countEvents()).toBe(before);

  const unmapped = await deliver('product.created', { id: 93, name: 'Woo Single #1' });
  expect(unmapped.status).toBe(200);
  expect(unmapped.body.ignored).toBe('topic not mapped');
  expect(await countEvents()).toBe(before);
});

test('without WOOCOMMERCE_WEBHOOK_SECRET the route answers 404', async () => {
  const res = await supertest(h.app)
    .post('/v1/webhooks/woocommerce')
    .set('Content-Type', 'application/json')
    .send('{}');
  expect(res.status).toBe(404);
});
