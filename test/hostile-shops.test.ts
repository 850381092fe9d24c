/**
 * Hostile, correctly signed Shopify and WooCommerce webhooks against the real API, Temporal
 * test server and Postgres: a NUL or half a surrogate pair in an email, a name or a line item,
 * a date past year 9999. Each is a 400 naming the field (a 5xx would be retried for days),
 * nothing of it is stored, and the next good delivery is stored.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import supertest from 'supertest';
import { Harness, TEST_WEBHOOKS } from './helpers/harness';

type Json = Record<string, unknown> & {
  billing: Json;
  line_items: Json[];
  customer: Json;
};
const SHOPIFY_SECRET = 'shpss_hostile';
const WOO_SECRET = 'wc_hostile';
const fixture = (name: string) => JSON.parse(readFileSync(path.join(__dirname, 'fixtures', name), 'utf8')) as Json;

let h: Harness;
let app: Express;
let seq = 0;

beforeAll(async () => {
  h = await Harness.start();
  app = h.appWith({ webhooks: { ...TEST_WEBHOOKS, shopifySecret: SHOPIFY_SECRET, woocommerceSecret: WOO_SECRET } });
});
afterAll(() => h?.stop());

const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(Buffer.from(body)).digest('base64');

function shopify(topic: string, body: string, headers: Record<string, string> = {}) {
  let req = supertest(app)
    .post('/v1/webhooks/shopify')
    .set('Content-Type', 'application/json')
    .set('X-Shopify-Topic', topic)
    .set('X-Shopify-Hmac-Sha256', hmac(SHOPIFY_SECRET, body))
    .set('X-Shopify-Shop-Domain', 'hostile.myshopify.com')
    .set('X-Shopify-Webhook-Id', `hostile-${++seq}`);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send(body);
}

function woo(topic: string, body: string) {
  return supertest(app)
    .post('/v1/webhooks/woocommerce')
    .set('Content-Type', 'application/json')
    .set('X-WC-Webhook-Source', 'https://hostile.example.com/')
    .set('X-WC-Webhook-Topic', topic)
    .set('X-WC-Webhook-Delivery-ID', `hostile-${++seq}`)
    .set('X-WC-Webhook-Signature', hmac(WOO_SECRET, body))
    .send(body);
}

const shopifyOrder = (change: (o: Json) => void) => {
  const order = fixture('shopify/orders-create.json');
  order.id = 9_000_000 + ++seq;
  change(order);
  return JSON.stringify(order);
};
const wooOrder = (change: (o: Json) => void) => {
  const order = fixture('woocommerce/order.json');
  order.id = 9_000_000 + ++seq;
  change(order);
  return JSON.stringify(order);
};

const eventCount = async () => Number((await h.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);

/** A hostile delivery: a 400 whose issues name `path`, and no event stored. */
async function refused(send: () => Promise<supertest.Response>, path: (string | number)[]): Promise<void> {
  const before = await eventCount();
  const res = await send();
  expect({ status: res.status, issues: res.body.error?.issues }).toEqual({
    status: 400,
    issues: [expect.objectContaining({ path })],
  });
  expect(await eventCount()).toBe(before);
}

afterEach(async () => {
  // The server is still up and stores the next good delivery.
  expect((await supertest(app).get('/health')).status).toBe(200);
  const good = await woo(
    'order.created',
    wooOrder((o) => {
      o.billing.email = `after-${seq}@example.com`;
    }),
  );
  expect(good.status).toBe(200);
  expect(good.body.stored).toHaveLength(1);
});

describe('Shopify', () => {
  test('a NUL in the order email is a 400 naming email', () =>
    refused(
      () =>
        shopify(
          'orders/create',
          shopifyOrder((o) => {
            o.email = 'nul\u0000@example.com';
          }),
        ),
      ['email'],
    ));

  test('half a surrogate pair in the customer name is a 400 naming customer.first_name', () =>
    refused(
      () =>
        shopify(
          'orders/create',
          shopifyOrder((o) => {
            o.customer.first_name = 'Jo\uD83D';
          }),
        ),
      ['customer', 'first_name'],
    ));

  test('a NUL in a line item title is a 400 naming line_items.1.title', () =>
    refused(
      () =>
        shopify(
          'orders/create',
          shopifyOrder((o) => {
            o.line_items[1].title = 'Sun\u0000glasses';
          }),
        ),
      ['line_items', 1, 'title'],
    ));

  test('a lone low surrogate in a customers/create email is a 400 naming email', () =>
    refused(() => {
      const customer = fixture('shopify/customers-create.json');
      customer.email = '\uDC00x@example.com';
      return shopify('customers/create', JSON.stringify(customer));
    }, ['email']));

  test('an X-Shopify-Triggered-At past year 9999 is ignored: the order is stored at its arrival', async () => {
    const started = Date.now();
    const res = await shopify(
      'orders/create',
      shopifyOrder((o) => {
        o.email = 'late-trigger@example.com';
      }),
      { 'X-Shopify-Triggered-At': '+275760-09-13T00:00:00.000Z' },
    );
    expect(res.status).toBe(200);
    const { rows } = await h.db.query<{ occurred_at: Date }>('SELECT occurred_at FROM events WHERE id = $1', [
      res.body.stored[0].eventId,
    ]);
    expect(rows[0].occurred_at.getTime()).toBeGreaterThanOrEqual(started - 1000);
  });
});

describe('WooCommerce', () => {
  test('a NUL in the billing email is a 400 naming billing.email', () =>
    refused(
      () =>
        woo(
          'order.created',
          wooOrder((o) => {
            o.billing.email = 'john\u0000@example.com';
          }),
        ),
      ['billing', 'email'],
    ));

  test('half a surrogate pair in the billing name is a 400 naming billing.first_name', () =>
    refused(
      () =>
        woo(
          'order.created',
          wooOrder((o) => {
            o.billing.first_name = '\uD800John';
          }),
        ),
      ['billing', 'first_name'],
    ));

  test('a NUL in a line item name is a 400 naming line_items.0.name', () =>
    refused(
      () =>
        woo(
          'order.updated',
          wooOrder((o) => {
            o.line_items[0].name = 'Woo\u0000 Single';
          }),
        ),
      ['line_items', 0, 'name'],
    ));

  test.each([
    ['past year 9999', '99999-03-22T19:28:08'],
    ['past the range of Date', '+275761-01-01T00:00:00'],
    ['not a date', 'yesterday'],
  ])('a date_paid_gmt %s is a 400 naming date_paid_gmt', (_what, date) =>
    refused(
      () =>
        woo(
          'order.created',
          wooOrder((o) => {
            o.date_paid_gmt = date;
          }),
        ),
      ['date_paid_gmt'],
    ),
  );

  test('a customer id past 255 characters is a 400 naming the call it would make', () =>
    refused(() => {
      const customer = fixture('woocommerce/customer.json');
      customer.id = 'c'.repeat(300);
      return woo('customer.created', JSON.stringify(customer));
    }, ['calls', 0, 'userId']));
});
