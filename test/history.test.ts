/**
 * History starts no flow (issue 16), against the real servers: a shop imports its past orders
 * (Segment `timestamp` months ago) and they count in the profile and segments but start no
 * journey and send nothing; a fresh order starts the flow and sends; an event from before the
 * flow went live, or sent with `context.historical`, does not enter; the answers say which events
 * were stored as history; a trigger's `where` that refuses the event is listed in `notEntered`.
 * Every date is derived from the test server's clock at the start.
 */
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
const DAY = 86_400_000;
/** The test server's clock when the suite starts: the backdated orders are months before it. */
let t0: number;
const ago = (ms: number) => new Date(t0 - ms).toISOString();

const thankYou = {
  name: 'Thank you',
  status: 'live' as const,
  trigger: { event: 'Order Completed' },
  smartSending: { enabled: false },
  steps: [{ id: 'thanks', type: 'email' as const, subject: 'Thanks for your order', html: '<p>Thanks</p>' }],
};

beforeAll(async () => {
  h = await Harness.start();
  t0 = await h.env.currentTimeMs();
  await h.putFlow('thank-you', thankYou);
  const segment = await h.http('post', '/v1/segments').send({
    id: 'repeat-buyers',
    name: 'Repeat buyers',
    condition: { event: 'Order Completed', within: '365 days', count: { op: 'gte', value: 3 } },
  });
  expect(segment.status).toBe(202);
  await waitFor(async () => (await h.http('get', '/v1/segments/repeat-buyers')).body.status === 'ready', 'segment');
});
afterAll(() => h?.stop());

const emailsTo = (address: string) => h.sendgrid.emails.filter((e) => e.to === address).map((e) => e.subject);
const journeysOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/journeys`)).body.journeys as { flowId: string }[];
const routingOf = async (eventId: number) => {
  await h.allRouted();
  const { rows } = await h.db.query<{ routing_result: { started: unknown[]; notEntered: unknown[] } }>(
    'SELECT routing_result FROM events WHERE id = $1',
    [eventId],
  );
  return rows[0].routing_result;
};

test('orders of four months ago: in profile and segment, no journey, no email; a fresh order sends', async () => {
  await h.identify('importer', { email: 'importer@example.com' });
  const order = (n: number, daysAgo: number) => ({
    type: 'track',
    userId: 'importer',
    event: 'Order Completed',
    properties: { order_id: `past-${n}`, total: 40 },
    messageId: `past-order-${n}`,
    timestamp: ago(daysAgo * DAY),
  });
  const res = await h
    .http('post', '/v1/batch')
    .send({ batch: [order(1, 122), order(2, 120), order(3, 118)], sentAt: new Date(t0).toISOString() });
  expect(res.status).toBe(200);
  expect(res.body.results.map((r: { history: boolean }) => r.history)).toEqual([true, true, true]);

  const routed = await routingOf(res.body.results[0].eventId);
  expect(routed.started).toEqual([]);
  expect(routed.notEntered).toEqual([
    { flowId: 'thank-you', reason: expect.stringMatching(/more than 1 day before it was received.*history/) },
  ]);
  expect(await journeysOf('importer')).toEqual([]);
  const profile = await h.http('get', '/v1/contacts/importer');
  expect(profile.body.computed).toMatchObject({ orderCount: 3, totalSpent: 120 });
  await waitFor(
    async () =>
      (await h.db.query("SELECT 1 FROM segment_members WHERE contact_id = 'importer' AND exited_at IS NULL"))
        .rowCount === 1,
    'the importer in the repeat buyers segment',
  );

  // Today's order is no history: the thank-you goes out, for it alone.
  const fresh = await h.track({ userId: 'importer', event: 'Order Completed', properties: { order_id: 'today' } });
  expect(fresh.history).toBe(false);
  expect(fresh.journeys.started).toHaveLength(1);
  await h.result('thank-you', 'importer');
  expect(emailsTo('importer@example.com')).toEqual(['Thanks for your order']);
});

test('an event from before the flow went live does not enter it, and says why', async () => {
  await h.putFlow('visit-welcome', { ...thankYou, name: 'Visit welcome', trigger: { event: 'Store Visited' } });
  const flow = await h.http('get', '/v1/flows/visit-welcome');
  const liveSince = Date.parse(flow.body.liveSince);
  expect(liveSince).toBeGreaterThan(Date.now() - 60_000);
  await h.identify('early', { email: 'early@example.com' });

  const before = await h.track({
    userId: 'early',
    event: 'Store Visited',
    timestamp: new Date(liveSince - 10 * 60_000).toISOString(),
  });
  expect(before.journeys.started).toEqual([]);
  expect(before.journeys.notEntered).toEqual([
    { flowId: 'visit-welcome', reason: expect.stringMatching(/before the flow went live/) },
  ]);
  // Ten minutes old is within the entry window: not history, only too early for this flow.
  expect(before.history).toBe(false);
  expect((await h.track({ userId: 'early', event: 'Store Visited' })).journeys.started).toHaveLength(1);

  // An edit (a PUT of what the GET answered) keeps the go-live; a pause clears it, a resumption moves it.
  const { createdAt: _c, updatedAt: _u, ...editable } = flow.body;
  const edited = await h.http('put', '/v1/flows/visit-welcome').send({ ...editable, name: 'Visit welcome, edited' });
  expect(edited.status).toBe(200);
  expect(edited.body.liveSince).toBe(flow.body.liveSince);
  const paused = await h.http('post', '/v1/flows/visit-welcome/pause');
  expect(paused.body.status).toBe('paused');
  expect(paused.body.liveSince).toBeUndefined();
  const resumed = await h.http('post', '/v1/flows/visit-welcome/activate');
  expect(Date.parse(resumed.body.liveSince)).toBeGreaterThan(liveSince);
});

test('context.historical: a fresh event sent as history enters nothing, on a call or a whole batch', async () => {
  await h.identify('flagged', { email: 'flagged@example.com' });
  const one = await h.track({ userId: 'flagged', event: 'Order Completed', context: { historical: true } });
  expect(one.history).toBe(true);
  expect(one.journeys.started).toEqual([]);
  expect(one.journeys.notEntered).toEqual([{ flowId: 'thank-you', reason: expect.stringMatching(/sent as history/) }]);

  const batch = await h.http('post', '/v1/batch').send({
    context: { historical: true },
    batch: [{ type: 'track', userId: 'flagged', event: 'Order Completed', messageId: 'flagged-batch-1' }],
  });
  expect(batch.body.results).toEqual([expect.objectContaining({ outcome: 'stored', history: true })]);
  expect((await routingOf(batch.body.results[0].eventId)).started).toEqual([]);
  expect(await journeysOf('flagged')).toEqual([]);
  expect(emailsTo('flagged@example.com')).toEqual([]);

  const bad = await h.http('post', '/v1/track').send({ userId: 'flagged', event: 'X', context: { historical: 'yes' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toMatch(/historical/);
});

test("a flow's entryWindow: validated, and a longer one lets a three-day-old event enter", async () => {
  const refused = await h.http('put', '/v1/flows/bad-window').send({ ...thankYou, entryWindow: '10 seconds' });
  expect(refused.status).toBe(400);
  expect(JSON.stringify(refused.body)).toMatch(/entryWindow/);
  expect((await h.http('put', '/v1/flows/bad-window').send({ ...thankYou, entryWindow: 'soon' })).status).toBe(400);

  await h.putFlow('review-request', {
    ...thankYou,
    name: 'Review request',
    trigger: { event: 'Parcel Delivered' },
    entryWindow: '7 days',
  });
  await h.putFlow('parcel-survey', { ...thankYou, name: 'Parcel survey', trigger: { event: 'Parcel Delivered' } });
  // The flows went live just now: a delivery three days ago is before both; so the flows are
  // made live as if a week ago, as a shop that set them up last week would have them.
  await h.db.query("UPDATE flows SET live_since = $1 WHERE id IN ('review-request', 'parcel-survey')", [
    new Date(Date.now() - 7 * DAY),
  ]);
  await h.identify('parcel', { email: 'parcel@example.com' });
  const late = await h.track({ userId: 'parcel', event: 'Parcel Delivered', timestamp: ago(3 * DAY) });
  expect(late.history).toBe(false);
  expect(late.journeys.started).toEqual([expect.objectContaining({ flowId: 'review-request' })]);
  expect(late.journeys.notEntered).toEqual([
    { flowId: 'parcel-survey', reason: expect.stringMatching(/entry window/) },
  ]);
});

test("a trigger's where that refuses the event is listed in notEntered, like a contact condition", async () => {
  await h.putFlow('big-orders', {
    ...thankYou,
    name: 'Big orders',
    trigger: { event: 'Big Order Placed', where: [{ property: 'total', op: 'gte', value: 100 }] },
  });
  const small = await h.track({ userId: 'small', event: 'Big Order Placed', properties: { total: 20 } });
  expect(small.journeys.started).toEqual([]);
  expect(small.journeys.notEntered).toEqual([
    { flowId: 'big-orders', reason: "the event does not match the trigger's where: total gte 100" },
  ]);
  expect(small.history).toBe(false);
});

test('an imported order from before a journey started does not end it', async () => {
  await h.putFlow('cart-reminder', {
    name: 'Cart reminder',
    status: 'live',
    trigger: { event: 'Cart Left' },
    exitWhen: [{ event: 'Order Completed' }],
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '1 hour' },
      { id: 'remind', type: 'email', subject: 'Your cart', html: '<p>Still there</p>' },
    ],
  });
  await h.identify('carter', { email: 'carter@example.com' });
  expect((await h.track({ userId: 'carter', event: 'Cart Left' })).journeys.started).toHaveLength(1);
  const old = await h.track({
    userId: 'carter',
    event: 'Order Completed',
    properties: { order_id: 'last-spring' },
    timestamp: ago(100 * DAY),
  });
  expect(old.history).toBe(true);
  expect(old.journeys.signalled).toEqual([]);
  expect((await h.result('cart-reminder', 'carter')).status).toBe('completed');
  expect(emailsTo('carter@example.com')).toEqual(['Your cart']);
});
