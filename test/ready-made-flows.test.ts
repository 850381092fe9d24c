/**
 * The ready-made flows of `flows/library/`, installed as a user would (PUT the file as-is,
 * then activate) and run on the time-skipping server: what each contact receives at the fake
 * SendGrid and Twilio, when, and what they never receive.
 *
 * One harness for the file: the flows installed by one `describe` stay live for the next ones,
 * as in a real shop (an order also starts post-purchase journeys, and so on), so every
 * assertion looks at one contact's messages, per flow where other flows may write to them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { insertEvent } from '../db/events';
import { validateFlow } from '../flows/validate';
import type { RoutingResult } from '../routing/route-event';
import { journeyWorkflowId } from '../runtime/journey-identity';
import type { journeyWorkflow } from '../workflows/journey';
import { journeyStateQuery, type JourneyResult } from '../flows/journey-messages';
import { waitFor, zoneWhereLocalHourIs } from './helpers/fake-http';
import { Harness } from './helpers/harness';

const LIBRARY = join(__dirname, '..', 'flows', 'library');
const FLOW_IDS = [
  'welcome-series',
  'abandoned-cart',
  'browse-abandonment',
  'abandoned-search',
  'post-purchase',
  'vip-reward',
  'lead-scoring-prospect',
  'win-back',
];
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const flowFile = (id: string) => readFileSync(join(LIBRARY, `${id}.json`), 'utf8');

/** What the README tells users to do: PUT the file as-is, then activate it. */
async function install(id: string): Promise<void> {
  const put = await h.http('put', `/v1/flows/${id}`).set('Content-Type', 'application/json').send(flowFile(id));
  expect(put.status).toBe(201);
  expect(put.body).toMatchObject({ id, version: 1, status: 'draft' });
  const activated = await h.http('post', `/v1/flows/${id}/activate`);
  expect(activated.status).toBe(200);
  expect(activated.body).toMatchObject({ id, version: 1, status: 'live' });
}

/** Every contact of this file gets `<id>@example.com`. */
const emailOf = (contactId: string) => `${contactId}@example.com`;
const inbox = (contactId: string, flowId?: string) =>
  h.sendgrid.emails.filter(
    (e) => e.to === emailOf(contactId) && (flowId === undefined || e.customArgs.parcours_flow_id === flowId),
  );
const subjects = (contactId: string, flowId?: string) => inbox(contactId, flowId).map((e) => e.subject);
const texts = (phone: string) => h.twilio.messages.filter((m) => m.to === phone).map((m) => m.body);

const track = async (
  userId: string,
  event: string,
  properties: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) => routing(await h.track({ userId, event, properties, ...extra }));
/** The API answers with the whole routing result; the harness's type omits `notEntered`. */
const routing = (answer: { journeys: unknown }) => answer.journeys as RoutingResult;

/** An identify that returns the routing of profile-change triggers. */
/**
 * An identify and what routing it did. The contact's earlier facts (the profile changes its journey's steps stored) are
 * routed first: an identify behind an unrouted fact of its contact keeps their order by leaving routing to the router
 * loop, and would answer "deferred" without the journeys this test reads.
 */
async function identify(userId: string, traits: Record<string, unknown>): Promise<RoutingResult> {
  await h.allRouted();
  const res = await h.http('post', '/v1/identify').send({ userId, traits });
  expect(res.body.routing).not.toBe('deferred');
  expect(res.status).toBe(200);
  return res.body.journeys as RoutingResult;
}

/** Keyed journeys (one per cart, per order) have the key in their workflow id. */
const keyedResult = (flowId: string, contactId: string, key: string): Promise<JourneyResult> =>
  h.env.client.workflow.getHandle<typeof journeyWorkflow>(journeyWorkflowId(flowId, contactId, key)).result();

/** Workflow time at which a step finished. */
function stepAt(result: JourneyResult, stepId: string): number {
  const step = result.steps.find((s) => s.stepId === stepId);
  if (!step) throw new Error(`step ${stepId} did not run: ${JSON.stringify(result.steps)}`);
  return Date.parse(step.at);
}

interface MessageRow {
  id: string;
  flowId: string;
  stepId: string;
  status: string;
  transactional: boolean;
  reason: string | null;
}
const messageRows = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as MessageRow[];
const traitsOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}`)).body.traits as Record<string, unknown>;

/** `at` is within `slack` after `from + offset` (the journey starts a moment after we read the clock). */
function expectAbout(at: number, from: number, offset: number, slack = MINUTE): void {
  expect(at - from).toBeGreaterThanOrEqual(offset);
  expect(at - from).toBeLessThan(offset + slack);
}

describe('flows/library', () => {
  test('holds one valid draft flow per ready-made scenario, named after its id, each listed in the README', () => {
    const files = readdirSync(LIBRARY).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(FLOW_IDS.map((id) => `${id}.json`).sort());
    const readme = readFileSync(join(LIBRARY, 'README.md'), 'utf8');
    for (const id of FLOW_IDS) {
      expect(validateFlow(JSON.parse(flowFile(id)))).toMatchObject({ success: true, data: { id, status: 'draft' } });
      expect(readme).toContain(`flows/library/${id}.json`);
    }
  });
});

describe('welcome-series', () => {
  beforeAll(() => install('welcome-series'));

  test('a new sign-up gets the welcome with WELCOME10 at once, then the day-3 and day-7 emails, in that order', async () => {
    await h.identify('ws-ada', { email: emailOf('ws-ada'), firstName: 'Ada' });
    const t0 = await h.env.currentTimeMs();
    const signedUp = await track('ws-ada', 'Signed Up');
    expect(signedUp.started).toEqual([
      expect.objectContaining({ flowId: 'welcome-series', workflowId: 'journey:welcome-series:ws-ada' }),
    ]);
    // At once: it arrives before any time is skipped.
    await waitFor(() => inbox('ws-ada').length === 1, 'the welcome email');

    const result = await h.result('welcome-series', 'ws-ada');

    expect(result.status).toBe('completed');
    expect(subjects('ws-ada')).toEqual([
      'Welcome, Ada! Here is 10% off your first order',
      'Our bestsellers, picked for you',
      'Last chance: your WELCOME10 code expires soon',
    ]);
    const [welcome, bestsellers, lastChance] = inbox('ws-ada');
    expect(welcome.html).toContain('<h1>Welcome, Ada!</h1>');
    expect(welcome.html).toContain('with the code <strong>WELCOME10</strong>');
    expect(welcome.text).toBe(
      'Welcome, Ada! Enjoy 10% off your first order with the code WELCOME10: https://shop.example.com/?code=WELCOME10',
    );
    expect(bestsellers.html).toContain('<p>Hi Ada,</p>');
    expect(bestsellers.html).toContain('Your code <strong>WELCOME10</strong> still gives you 10% off');
    expect(lastChance.html).toContain('<strong>WELCOME10</strong> (10% off your first order) expires in 48 hours');
    expectAbout(stepAt(result, 'welcome'), t0, 0);
    expectAbout(stepAt(result, 'bestsellers'), t0, 3 * DAY);
    expectAbout(stepAt(result, 'last-chance'), t0, 7 * DAY);
    expect((await messageRows('ws-ada')).map((m) => m.status)).toEqual(['sent', 'sent', 'sent']);
  });

  test('signing up again does not restart the series (re-entry: once); no first name, no empty greeting', async () => {
    await h.identify('ws-bob', { email: emailOf('ws-bob') });
    await track('ws-bob', 'Signed Up');
    expect((await h.result('welcome-series', 'ws-bob')).status).toBe('completed');
    expect(subjects('ws-bob')[0]).toBe('Welcome! Here is 10% off your first order');
    expect(inbox('ws-bob')[1].html).toContain('<p>Hi there,</p>');

    const again = await track('ws-bob', 'Signed Up');

    expect(again.started).toEqual([]);
    expect(again.notEntered).toEqual([
      { flowId: 'welcome-series', reason: 'the contact was in this flow before (re-entry: once)' },
    ]);
    expect(inbox('ws-bob')).toHaveLength(3);
  });
});

describe('abandoned-cart', () => {
  beforeAll(() => install('abandoned-cart'));

  const products = [
    { product_id: 'p1', name: 'Linen shirt', price: 59.5, quantity: 1, category: 'Shirts' },
    { product_id: 'p2', name: 'Canvas tote', price: 25, quantity: 1, category: 'Bags' },
  ];
  const cart = (cartId: string) => ({
    cart_id: cartId,
    total: 84.5,
    currency: 'EUR',
    cart_url: `https://shop.example.com/cart/${cartId}`,
    products,
  });
  const checkout = (userId: string, cartId: string) => track(userId, 'Checkout Started', cart(cartId));
  const order = (userId: string, cartId: string) =>
    track(userId, 'Order Completed', { order_id: `order-${cartId}`, ...cart(cartId) });
  const cartJourney = (contactId: string, cartId: string) => keyedResult('abandoned-cart', contactId, cartId);
  const workflowId = (contactId: string, cartId: string) => `journey:abandoned-cart:${contactId}:${cartId}`;

  /** A contact with email and phone whose local time, 48 h from now (the SMS), is `hour` o'clock. */
  async function shopper(contactId: string, phone: string, hour = 12): Promise<{ t0: number; zone: string }> {
    const t0 = await h.env.currentTimeMs();
    const zone = zoneWhereLocalHourIs(t0 + 2 * DAY, hour);
    const firstName = contactId.slice(3, 4).toUpperCase() + contactId.slice(4);
    await h.identify(contactId, { email: emailOf(contactId), phone, firstName, timezone: zone });
    // The SMS is marketing: it needs the contact's SMS opt-in (given at checkout, say).
    await h.http('put', `/v1/contacts/${contactId}/consent/sms`).send({ status: 'subscribed', source: 'checkout' });
    return { t0, zone };
  }

  test('no order, email 2 not opened: the cart at 1 h, a last call at 24 h, then an SMS at 48 h', async () => {
    const { t0 } = await shopper('ac-ada', '+33600000001');
    const started = await checkout('ac-ada', 'cart-a1');
    expect(started.started).toEqual([
      expect.objectContaining({ flowId: 'abandoned-cart', workflowId: workflowId('ac-ada', 'cart-a1') }),
    ]);

    const result = await cartJourney('ac-ada', 'cart-a1');

    expect(result.status).toBe('completed');
    expect(subjects('ac-ada')).toEqual(['Ada, you left 2 items in your cart', 'Your cart is about to expire']);
    const [first, second] = inbox('ac-ada');
    expect(first.html).toContain(
      '<ul><li>Linen shirt x1: 59.5 EUR</li><li>Canvas tote x1: 25 EUR</li></ul><p>Total: 84.5 EUR</p>',
    );
    expect(first.html).toContain('<a href="https://shop.example.com/cart/cart-a1">Complete your order</a>');
    expect(second.html).toContain('<ul><li>Linen shirt</li><li>Canvas tote</li></ul>');
    expect(texts('+33600000001')).toEqual([
      'Ada, your cart (84.5 EUR) is still waiting: https://shop.example.com/cart/cart-a1 Reply STOP to opt out.',
    ]);
    expect(result.steps.find((s) => s.stepId === 'opened-email-2')?.outcome).toBe('no');
    // In order, at 1 h, 24 h and 48 h after the checkout (local noon: no quiet-hours wait).
    expectAbout(stepAt(result, 'email-1'), t0, HOUR);
    expectAbout(stepAt(result, 'email-2'), t0, 24 * HOUR);
    expectAbout(stepAt(result, 'sms'), t0, 48 * HOUR);
  });

  test('a contact who opens email 2 gets no SMS: the journey ends there', async () => {
    await shopper('ac-bob', '+33600000002');
    await checkout('ac-bob', 'cart-b1');
    await h.env.sleep('25 hours');
    await waitFor(() => inbox('ac-bob').length === 2, 'the second email');
    const email2 = await waitFor(
      async () =>
        (await messageRows('ac-bob')).find(
          (m) => m.flowId === 'abandoned-cart' && m.stepId === 'email-2' && m.status === 'sent',
        ),
      'email 2 recorded as sent',
    );

    const opened = await track('ac-bob', 'Email Opened', { message_id: email2.id });
    expect(opened.signalled).toEqual([{ flowId: 'abandoned-cart', workflowId: workflowId('ac-bob', 'cart-b1') }]);
    const result = await cartJourney('ac-bob', 'cart-b1');

    expect(result).toMatchObject({ status: 'exited', exit: { reason: 'exit_step', stepId: 'stop-opened' } });
    expect(result.steps.find((s) => s.stepId === 'opened-email-2')?.outcome).toBe('yes');
    expect(subjects('ac-bob')).toEqual(['Bob, you left 2 items in your cart', 'Your cart is about to expire']);
    expect(texts('+33600000002')).toEqual([]);
  });

  test('a contact who orders that cart after the first email gets no further reminder, email or SMS', async () => {
    await shopper('ac-cy', '+33600000003');
    await checkout('ac-cy', 'cart-c1');
    await h.env.sleep('2 hours');
    await waitFor(() => inbox('ac-cy').length === 1, 'the first email');

    const ordered = await order('ac-cy', 'cart-c1');
    expect(ordered.signalled).toContainEqual({ flowId: 'abandoned-cart', workflowId: workflowId('ac-cy', 'cart-c1') });
    const result = await cartJourney('ac-cy', 'cart-c1');

    expect(result).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', event: { name: 'Order Completed' } },
    });
    expect(subjects('ac-cy', 'abandoned-cart')).toEqual(['Cy, you left 2 items in your cart']);
    expect(texts('+33600000003')).toEqual([]);
  });

  test('an order for ANOTHER cart does not stop the journey: the second email and the SMS still come', async () => {
    await shopper('ac-dee', '+33600000004');
    await checkout('ac-dee', 'cart-d1');
    await h.env.sleep('2 hours');
    await waitFor(() => inbox('ac-dee').length === 1, 'the first email');

    const otherCart = await order('ac-dee', 'cart-d2');
    expect(otherCart.signalled).toContainEqual({
      flowId: 'abandoned-cart',
      workflowId: workflowId('ac-dee', 'cart-d1'),
    });
    const result = await cartJourney('ac-dee', 'cart-d1');

    expect(result.status).toBe('completed');
    expect(subjects('ac-dee', 'abandoned-cart')).toEqual([
      'Dee, you left 2 items in your cart',
      'Your cart is about to expire',
    ]);
    expect(texts('+33600000004')).toEqual([
      'Dee, your cart (84.5 EUR) is still waiting: https://shop.example.com/cart/cart-d1 Reply STOP to opt out.',
    ]);
  });

  test('one journey per cart: the same cart again starts nothing, another cart its own journey, an order ends only its cart', async () => {
    await h.identify('ac-eve', { email: emailOf('ac-eve') });
    expect((await checkout('ac-eve', 'cart-e1')).started).toEqual([
      expect.objectContaining({ workflowId: workflowId('ac-eve', 'cart-e1') }),
    ]);
    const sameCart = await checkout('ac-eve', 'cart-e1');
    expect(sameCart.started).toEqual([]);
    expect(sameCart.alreadyInFlow).toEqual([{ flowId: 'abandoned-cart', workflowId: workflowId('ac-eve', 'cart-e1') }]);
    expect((await checkout('ac-eve', 'cart-e2')).started).toEqual([
      expect.objectContaining({ workflowId: workflowId('ac-eve', 'cart-e2') }),
    ]);

    // Polled with describe, not awaited with result(): awaiting a result lets the server skip
    // time, and the other cart's journey would reach its 1-hour email meanwhile.
    const status = async (cartId: string) =>
      (await h.env.client.workflow.getHandle(workflowId('ac-eve', cartId)).describe()).status.name;
    await order('ac-eve', 'cart-e1');
    await waitFor(async () => (await status('cart-e1')) !== 'RUNNING', 'the cart-e1 journey to end');
    expect(await status('cart-e2')).toBe('RUNNING');
    expect(
      (await h.env.client.workflow.getHandle(workflowId('ac-eve', 'cart-e2')).query(journeyStateQuery)).currentStep,
    ).toBe('wait-1h');

    await order('ac-eve', 'cart-e2');
    await waitFor(async () => (await status('cart-e2')) !== 'RUNNING', 'the cart-e2 journey to end');
    expect(await cartJourney('ac-eve', 'cart-e1')).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', event: { name: 'Order Completed' } },
    });
    expect(await cartJourney('ac-eve', 'cart-e2')).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', event: { name: 'Order Completed' } },
    });
    expect(inbox('ac-eve')).toEqual([]);
  });

  test("SMS quiet hours: when 48 h falls in the contact's night, the SMS waits for 09:00 local time", async () => {
    const { t0, zone } = await shopper('ac-fay', '+33600000006', 23);
    await checkout('ac-fay', 'cart-f1');

    const result = await cartJourney('ac-fay', 'cart-f1');

    expect(result.status).toBe('completed');
    expect(texts('+33600000006')).toHaveLength(1);
    const smsAt = stepAt(result, 'sms');
    expect(DateTime.fromMillis(smsAt, { zone }).toFormat('HH:mm')).toBe('09:00');
    expect(smsAt - t0).toBeGreaterThan(48 * HOUR + 9 * HOUR);
    expect(smsAt - t0).toBeLessThan(48 * HOUR + 11 * HOUR);
  });
});

describe('browse-abandonment', () => {
  beforeAll(() => install('browse-abandonment'));

  const lamp = {
    product_id: 'p-lamp',
    name: 'Brass desk lamp',
    price: 89,
    currency: 'EUR',
    category: 'Lighting',
    url: 'https://shop.example.com/p/brass-desk-lamp',
    image_url: 'https://cdn.example.com/brass-desk-lamp.jpg',
  };
  const rug = {
    product_id: 'p-rug',
    name: 'Wool rug',
    price: 240,
    currency: 'EUR',
    url: 'https://shop.example.com/p/wool-rug',
  };

  test('no add to cart: reminders of the viewed product at day 1, 3 and 5; more views meanwhile start no second series', async () => {
    await h.identify('ba-ada', { email: emailOf('ba-ada'), firstName: 'Ada' });
    const t0 = await h.env.currentTimeMs();
    expect((await track('ba-ada', 'Product Viewed', lamp)).started).toEqual([
      expect.objectContaining({ flowId: 'browse-abandonment', workflowId: 'journey:browse-abandonment:ba-ada' }),
    ]);
    const moreViews = await track('ba-ada', 'Product Viewed', rug);
    expect(moreViews.started).toEqual([]);
    expect(moreViews.alreadyInFlow).toEqual([
      { flowId: 'browse-abandonment', workflowId: 'journey:browse-abandonment:ba-ada' },
    ]);

    const result = await h.result('browse-abandonment', 'ba-ada');

    expect(result.status).toBe('completed');
    expect(subjects('ba-ada')).toEqual([
      'Still thinking about the Brass desk lamp?',
      'The Brass desk lamp is popular right now',
      'Last reminder: the Brass desk lamp',
    ]);
    const [first, second, third] = inbox('ba-ada');
    expect(first.html).toContain('Ada, the Brass desk lamp you looked at is still available for 89 EUR.');
    expect(first.html).toContain('<img src="https://cdn.example.com/brass-desk-lamp.jpg" alt="Brass desk lamp">');
    for (const email of [first, second, third])
      expect(email.html).toContain('href="https://shop.example.com/p/brass-desk-lamp"');
    expectAbout(stepAt(result, 'reminder-1'), t0, 1 * DAY);
    expectAbout(stepAt(result, 'reminder-2'), t0, 3 * DAY);
    expectAbout(stepAt(result, 'reminder-3'), t0, 5 * DAY);
  });

  test('a contact who adds a product to the cart after the first reminder gets no more browse reminders', async () => {
    await h.identify('ba-bob', { email: emailOf('ba-bob'), firstName: 'Bob' });
    await track('ba-bob', 'Product Viewed', lamp);
    await h.env.sleep('25 hours');
    await waitFor(() => inbox('ba-bob').length === 1, 'the first reminder');

    const added = await track('ba-bob', 'Product Added', { ...lamp, quantity: 1, cart_id: 'cart-ba-bob' });
    expect(added.signalled).toEqual([
      { flowId: 'browse-abandonment', workflowId: 'journey:browse-abandonment:ba-bob' },
    ]);
    const result = await h.result('browse-abandonment', 'ba-bob');

    expect(result).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', filter: { event: 'Product Added' } },
    });
    expect(subjects('ba-bob', 'browse-abandonment')).toEqual(['Still thinking about the Brass desk lamp?']);
  });

  test('a contact who orders after the second reminder does not get the third', async () => {
    await h.identify('ba-cy', { email: emailOf('ba-cy') });
    await track('ba-cy', 'Product Viewed', lamp);
    await h.env.sleep(3 * DAY + HOUR);
    await waitFor(() => inbox('ba-cy').length === 2, 'the second reminder');

    await track('ba-cy', 'Order Completed', {
      order_id: 'order-ba-cy',
      total: 89,
      currency: 'EUR',
      products: [{ ...lamp, quantity: 1 }],
    });
    const result = await h.result('browse-abandonment', 'ba-cy');

    expect(result).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', filter: { event: 'Order Completed' } },
    });
    expect(subjects('ba-cy', 'browse-abandonment')).toEqual([
      'Still thinking about the Brass desk lamp?',
      'The Brass desk lamp is popular right now',
    ]);
    expect(inbox('ba-cy', 'browse-abandonment')[0].html).toContain('Hi, the Brass desk lamp you looked at');
  });
});

describe('abandoned-search', () => {
  beforeAll(() => install('abandoned-search'));

  test("one email the next day at 10:00 in the contact's time zone, with the results for the search", async () => {
    const zone = 'America/New_York';
    await h.identify('as-ada', { email: emailOf('as-ada'), firstName: 'Ada', timezone: zone });
    const t0 = await h.env.currentTimeMs();
    await track('as-ada', 'Products Searched', { query: 'linen shirt' });
    const t1 = await h.env.currentTimeMs();

    const result = await h.result('abandoned-search', 'as-ada');

    expect(result.status).toBe('completed');
    expect(subjects('as-ada')).toEqual(['Still looking for linen shirt?']);
    expect(inbox('as-ada')[0].html).toContain('yesterday you searched for <strong>linen shirt</strong>');
    expect(inbox('as-ada')[0].html).toContain(
      '<a href="https://shop.example.com/search?q=linen+shirt">See the results for linen shirt</a>',
    );
    const sent = DateTime.fromMillis(stepAt(result, 'search-results'), { zone });
    expect(sent.toFormat('HH:mm')).toBe('10:00');
    const nextDay = [t0, t1].map((t) => DateTime.fromMillis(t, { zone }).plus({ days: 1 }).toISODate());
    expect(nextDay).toContain(sent.toISODate());
  });

  test('a contact who orders before the next morning gets no email', async () => {
    await h.identify('as-bob', { email: emailOf('as-bob') });
    await track('as-bob', 'Products Searched', { query: 'canvas tote' });
    await h.env.sleep('1 hour');

    const ordered = await track('as-bob', 'Order Completed', {
      order_id: 'order-as-bob',
      total: 25,
      currency: 'EUR',
      products: [],
    });
    expect(ordered.signalled).toContainEqual({
      flowId: 'abandoned-search',
      workflowId: 'journey:abandoned-search:as-bob',
    });
    const result = await h.result('abandoned-search', 'as-bob');

    expect(result).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', filter: { event: 'Order Completed' } },
    });
    expect(inbox('as-bob')).toEqual([]);
  });
});

describe('post-purchase', () => {
  beforeAll(() => install('post-purchase'));

  const shirt = { product_id: 'p-shirt', name: 'Linen shirt', price: 59.5, quantity: 1, category: 'Shirts' };
  const tote = { product_id: 'p-tote', name: 'Canvas tote', price: 25, quantity: 1, category: 'Bags' };
  const sneakers = { product_id: 'p-sneakers', name: 'Leather sneakers', price: 120, quantity: 1, category: 'Shoes' };
  const beans = { product_id: 'p-beans', name: 'Espresso beans', price: 14, quantity: 2, category: 'Coffee' };
  const placeOrder = (
    userId: string,
    orderId: string,
    items: Record<string, unknown>[],
    extra: Record<string, unknown> = {},
  ) => track(userId, 'Order Completed', { order_id: orderId, total: 84.5, currency: 'EUR', products: items, ...extra });
  const orderJourney = (contactId: string, orderId: string) => keyedResult('post-purchase', contactId, orderId);

  test('a thank-you at once, a complementary product at day 7, a review request at day 14', async () => {
    await h.identify('pp-ada', { email: emailOf('pp-ada'), firstName: 'Ada' });
    const t0 = await h.env.currentTimeMs();
    const placed = await placeOrder('pp-ada', 'o-pp-ada', [shirt, tote]);
    expect(placed.started).toEqual([
      expect.objectContaining({ flowId: 'post-purchase', workflowId: 'journey:post-purchase:pp-ada:o-pp-ada' }),
    ]);
    await waitFor(() => inbox('pp-ada').length === 1, 'the thank-you');

    const result = await orderJourney('pp-ada', 'o-pp-ada');

    expect(result.status).toBe('completed');
    expect(subjects('pp-ada')).toEqual([
      'Thank you for your order o-pp-ada',
      'Goes well with your Linen shirt',
      'How do you like your Linen shirt?',
    ]);
    const [thanks, crossSell, review] = inbox('pp-ada');
    expect(thanks.html).toContain('Thank you, Ada! We received your order <strong>o-pp-ada</strong>:');
    expect(thanks.html).toContain(
      '<ul><li>Linen shirt x1: 59.5 EUR</li><li>Canvas tote x1: 25 EUR</li></ul><p>Total: 84.5 EUR</p>',
    );
    expect(crossSell.html).toContain(
      'Ada, how do you like your Linen shirt? Customers who bought it also love our Chino trousers.',
    );
    expect(crossSell.html).toContain('href="https://shop.example.com/recommendations?for=p-shirt"');
    expect(review.html).toContain(
      '<a href="https://shop.example.com/review?order=o-pp-ada&amp;product=p-shirt">Review the Linen shirt</a>',
    );
    expect(review.html).toContain(
      '<a href="https://shop.example.com/review?order=o-pp-ada&amp;product=p-tote">Review the Canvas tote</a>',
    );
    expectAbout(stepAt(result, 'thank-you'), t0, 0);
    expectAbout(stepAt(result, 'cross-sell'), t0, 7 * DAY);
    expectAbout(stepAt(result, 'review-request'), t0, 14 * DAY);
    const rows = await messageRows('pp-ada');
    expect(rows.find((m) => m.stepId === 'thank-you')).toMatchObject({ status: 'sent', transactional: true });
    expect(rows.find((m) => m.stepId === 'cross-sell')).toMatchObject({ status: 'sent', transactional: false });
  });

  test('the thank-you is transactional: it goes out even 1 hour after a marketing email (the abandoned-cart reminder)', async () => {
    await h.identify('pp-bob', { email: emailOf('pp-bob'), firstName: 'Bob' });
    await track('pp-bob', 'Checkout Started', {
      cart_id: 'cart-pp-bob',
      total: 84.5,
      currency: 'EUR',
      products: [shirt],
    });
    await h.env.sleep('90 minutes');
    await waitFor(() => inbox('pp-bob', 'abandoned-cart').length === 1, 'the cart reminder');

    const placed = await placeOrder('pp-bob', 'o-pp-bob', [shirt], { cart_id: 'cart-pp-bob' });
    expect(placed.started).toEqual([
      expect.objectContaining({ flowId: 'post-purchase', workflowId: 'journey:post-purchase:pp-bob:o-pp-bob' }),
    ]);
    await waitFor(() => inbox('pp-bob', 'post-purchase').length === 1, 'the thank-you');
    expect(await keyedResult('abandoned-cart', 'pp-bob', 'cart-pp-bob')).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter' },
    });
    const result = await orderJourney('pp-bob', 'o-pp-bob');

    expect(result.status).toBe('completed');
    expect(subjects('pp-bob')).toEqual([
      'Bob, you left 1 item in your cart',
      'Thank you for your order o-pp-bob',
      'Goes well with your Linen shirt',
      'How do you like your Linen shirt?',
    ]);
  });

  test('each order has its own journey: two orders two days apart each get their thank-you, cross-sell and review request', async () => {
    await h.identify('pp-cy', { email: emailOf('pp-cy') });
    await placeOrder('pp-cy', 'o-pp-cy-1', [sneakers]);
    await waitFor(() => inbox('pp-cy').length === 1, 'the first thank-you');
    await h.env.sleep('2 days');
    const second = await placeOrder('pp-cy', 'o-pp-cy-2', [beans]);
    expect(second.started).toEqual([expect.objectContaining({ workflowId: 'journey:post-purchase:pp-cy:o-pp-cy-2' })]);

    expect((await orderJourney('pp-cy', 'o-pp-cy-1')).status).toBe('completed');
    expect((await orderJourney('pp-cy', 'o-pp-cy-2')).status).toBe('completed');

    expect(subjects('pp-cy')).toEqual([
      'Thank you for your order o-pp-cy-1',
      'Thank you for your order o-pp-cy-2',
      'Goes well with your Leather sneakers',
      'Goes well with your Espresso beans',
      'How do you like your Leather sneakers?',
      'How do you like your Espresso beans?',
    ]);
    expect(inbox('pp-cy')[2].html).toContain(
      'Hi, how do you like your Leather sneakers? Customers who bought it also love our Leather care kit.',
    );
    expect(inbox('pp-cy')[3].html).toContain('Customers who bought it also love our Ceramic pour-over dripper.');
  });

  test('a refunded order gets no cross-sell and no review request', async () => {
    await h.identify('pp-dee', { email: emailOf('pp-dee') });
    await placeOrder('pp-dee', 'o-pp-dee', [tote]);
    await waitFor(() => inbox('pp-dee').length === 1, 'the thank-you');
    await h.env.sleep('2 days');

    const refunded = await track('pp-dee', 'Order Refunded', { order_id: 'o-pp-dee', total: 25, currency: 'EUR' });
    expect(refunded.signalled).toEqual([
      { flowId: 'post-purchase', workflowId: 'journey:post-purchase:pp-dee:o-pp-dee' },
    ]);
    const result = await orderJourney('pp-dee', 'o-pp-dee');

    expect(result).toMatchObject({
      status: 'exited',
      exit: { reason: 'flow_filter', filter: { event: 'Order Refunded' } },
    });
    expect(subjects('pp-dee')).toEqual(['Thank you for your order o-pp-dee']);
  });
});

describe('vip-reward', () => {
  beforeAll(() => install('vip-reward'));

  const placeOrder = (userId: string, orderId: string) =>
    track(userId, 'Order Completed', {
      order_id: orderId,
      total: 40,
      currency: 'EUR',
      products: [{ product_id: 'p-beans', name: 'Espresso beans', price: 20, quantity: 2, category: 'Coffee' }],
    });
  const NOT_YET = { flowId: 'vip-reward', reason: 'the contact does not meet the trigger conditions' };

  test('four orders in the last 365 days (and one from 400 days ago) do not make a VIP', async () => {
    await h.identify('vip-ann', { email: emailOf('vip-ann'), firstName: 'Ann' });
    // Imported history: an order more than a year ago.
    await insertEvent(h.db, {
      messageId: 'vip-ann-old-order',
      type: 'track',
      contactId: 'vip-ann',
      name: 'Order Completed',
      properties: { order_id: 'o-ann-0', total: 40 },
      occurredAt: new Date((await h.env.currentTimeMs()) - 400 * DAY).toISOString(),
    });

    for (let n = 1; n <= 4; n += 1) {
      const placed = await placeOrder('vip-ann', `o-ann-${n}`);
      expect(placed.notEntered).toContainEqual(NOT_YET);
      expect(placed.started.map((s) => s.flowId)).not.toContain('vip-reward');
    }

    expect((await traitsOf('vip-ann')).tags).toBeUndefined();
    expect(inbox('vip-ann', 'vip-reward')).toEqual([]);
  });

  test('the fifth order within 365 days makes a VIP: tagged vip, one reward email; later orders do not reward again', async () => {
    await h.identify('vip-bea', { email: emailOf('vip-bea'), firstName: 'Bea' });
    for (let n = 1; n <= 4; n += 1)
      expect((await placeOrder('vip-bea', `o-bea-${n}`)).notEntered).toContainEqual(NOT_YET);

    const fifth = await placeOrder('vip-bea', 'o-bea-5');
    expect(fifth.started).toContainEqual(
      expect.objectContaining({ flowId: 'vip-reward', workflowId: 'journey:vip-reward:vip-bea' }),
    );
    const result = await h.result('vip-reward', 'vip-bea');

    expect(result.status).toBe('completed');
    const traits = await traitsOf('vip-bea');
    expect(traits.tags).toEqual(['vip']);
    expect(typeof traits.vip_since).toBe('string');
    expect(subjects('vip-bea', 'vip-reward')).toEqual(['Bea, welcome to our VIP club']);
    expect(inbox('vip-bea', 'vip-reward')[0].html).toContain(
      '<strong>15% off</strong> all your orders with the code <strong>VIP15</strong>',
    );

    const sixth = await placeOrder('vip-bea', 'o-bea-6');
    expect(sixth.started.map((s) => s.flowId)).not.toContain('vip-reward');
    expect(sixth.notEntered).toContainEqual({
      flowId: 'vip-reward',
      reason: 'the contact was in this flow before (re-entry: once)',
    });
    expect(inbox('vip-bea', 'vip-reward')).toHaveLength(1);
  });
});

describe('lead-scoring-prospect', () => {
  beforeAll(() => install('lead-scoring-prospect'));

  test('a lead score reaching 50 enters the prospect flow once: stage prospect, tag prospect, an intro email; 60 later does not enter again', async () => {
    const below = await identify('ls-ada', { email: emailOf('ls-ada'), firstName: 'Ada', lead_score: 20 });
    expect(below.started).toEqual([]);

    const reached = await identify('ls-ada', { lead_score: 50 });
    expect(reached.started).toEqual([
      expect.objectContaining({ flowId: 'lead-scoring-prospect', workflowId: 'journey:lead-scoring-prospect:ls-ada' }),
    ]);
    const result = await h.result('lead-scoring-prospect', 'ls-ada');

    expect(result.status).toBe('completed');
    expect(await traitsOf('ls-ada')).toMatchObject({ lead_score: 50, lifecycle_stage: 'prospect', tags: ['prospect'] });
    expect(subjects('ls-ada')).toEqual(['Ada, can we help you choose?']);
    expect(inbox('ls-ada')[0].html).toContain(
      '<a href="https://shop.example.com/book-a-call">Book a 15-minute call</a>',
    );

    const higher = await identify('ls-ada', { lead_score: 60 });
    expect(higher.started).toEqual([]);
    expect(higher.alreadyInFlow).toEqual([]);
    expect(inbox('ls-ada')).toHaveLength(1);
  });

  test('dropping below 50 and climbing back does not send the introduction twice (re-entry: once)', async () => {
    const created = await identify('ls-bob', { email: emailOf('ls-bob'), lead_score: 55 });
    expect(created.started).toEqual([expect.objectContaining({ flowId: 'lead-scoring-prospect' })]);
    expect((await h.result('lead-scoring-prospect', 'ls-bob')).status).toBe('completed');
    expect(subjects('ls-bob')).toEqual(['Hello, can we help you choose?']);

    expect((await identify('ls-bob', { lead_score: 10 })).started).toEqual([]);
    const again = await identify('ls-bob', { lead_score: 70 });

    expect(again.started).toEqual([]);
    expect(again.notEntered).toEqual([
      { flowId: 'lead-scoring-prospect', reason: 'the contact was in this flow before (re-entry: once)' },
    ]);
    expect(inbox('ls-bob')).toHaveLength(1);
  });
});
