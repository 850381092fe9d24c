/**
 * Routing many stored events at once, against the real servers: contacts concurrently, each
 * contact's events in order (a checkout starts its journey before the order that ends it is
 * signalled, never the reverse); Temporal going down mid-way leaves the rest to the router
 * loop, which finishes them; the loop claims a contact's events only in order.
 */
import { Client, Connection } from '@temporalio/client';
import { upsertContact } from '../db/contacts';
import { getEvent, insertEvent, type StoredEvent } from '../db/events';
import type { FlowInput } from '../flows/schema';
import type { RoutingResult } from '../routing/route-event';
import { routeStoredMany } from '../routing/route-many';
import { routePending, startRouterLoop, type RouterLoop } from '../routing/router-loop';
import { CLIENT_CHANNEL_ARGS } from '../runtime/temporal-channel';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';
import { TemporalProxy } from './helpers/temporal-proxy';

let h: Harness;

beforeAll(async () => {
  // Routing here is what the tests do, not a background loop.
  h = await Harness.start({ runRouter: false });
  await h.putFlow('cart', abandonedCart('Checkout Started'));
  await h.putFlow('trial', abandonedCart('Trial Started'));
});
afterAll(() => h?.stop());

function abandonedCart(trigger: string): FlowInput {
  return {
    name: trigger,
    status: 'live',
    trigger: { event: trigger },
    exitWhen: [{ event: 'Order Completed' }],
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '1 day' },
      { id: 'reminder', type: 'email', subject: 'Your cart', html: '<p>Your cart</p>' },
    ],
  };
}

const deps = (workflows = h.env.client.workflow) => ({ db: h.db, workflows, log: h.log });

/** Stored as a request stores it: the router loop leaves it alone (the request's lease). */
async function store(contactId: string, name: string, messageId: string): Promise<StoredEvent> {
  await upsertContact(h.db, contactId, { email: `${contactId}@example.com` });
  const occurredAt = new Date(await h.env.currentTimeMs()).toISOString();
  return (
    await insertEvent(h.db, { messageId, type: 'track', contactId, name, occurredAt }, { routeWithinMs: 600_000 })
  ).event;
}

async function routing(
  id: number,
): Promise<{ routedAt: string | null; routingError: string | null; result: RoutingResult | undefined }> {
  const event = await getEvent(h.db, id);
  if (!event) throw new Error(`no event ${id}`);
  return {
    routedAt: event.routedAt,
    routingError: event.routingError,
    result: event.routingResult as RoutingResult | undefined,
  };
}

async function slowClient(proxy: TemporalProxy) {
  const connection = await Connection.connect({
    address: await proxy.start(h.env.address),
    channelArgs: CLIENT_CHANNEL_ARGS,
  });
  const workflows = new Client({ connection }).workflow;
  // The channel is open before anything is timed.
  await workflows.workflowService.getSystemInfo({});
  return { connection, workflows };
}

/** The journey heard the order: it exited on the signal (not completed, not caught at a send). */
async function expectExitedOnOrder(contactId: string): Promise<void> {
  expect((await h.result('cart', contactId)).exit).toMatchObject({ reason: 'flow_filter', detectedBy: 'signal' });
}

test('a checkout and an order per contact: contacts routed at once, each journey started before its order is signalled', async () => {
  const contacts = Array.from({ length: 16 }, (_, i) => `pair-${i}`);
  const checkouts: StoredEvent[] = [];
  const orders: StoredEvent[] = [];
  for (const c of contacts) checkouts.push(await store(c, 'Checkout Started', `${c}-checkout`));
  for (const c of contacts) orders.push(await store(c, 'Order Completed', `${c}-order`));

  // Every call to Temporal takes at least 2 x 100 ms: one event after the other, the 32 would
  // take over 6 s.
  const proxy = new TemporalProxy(100);
  const { connection, workflows } = await slowClient(proxy);
  try {
    // Handed over orders first: the order within a contact comes from the stored ids.
    const events = [...orders].reverse().concat(checkouts);
    const started = Date.now();
    const outcomes = await routeStoredMany(deps(workflows), events, { concurrency: 16 });
    const elapsed = Date.now() - started;

    expect(outcomes.map((o) => o.routing)).toEqual(events.map(() => 'done'));
    for (const [i, event] of events.entries()) {
      if (event.name === 'Checkout Started')
        expect(outcomes[i].journeys?.started).toEqual([expect.objectContaining({ flowId: 'cart' })]);
      else expect(outcomes[i].journeys?.signalled).toEqual([expect.objectContaining({ flowId: 'cart' })]);
    }
    expect(elapsed).toBeLessThan(3_200);
  } finally {
    await connection.close();
    await proxy.stop();
  }
  for (const c of contacts) await expectExitedOnOrder(c);
  for (const order of orders) expect((await routing(order.id)).result?.signalled).toHaveLength(1);
});

test('Temporal down mid-way: the events not tried are left for the router loop, which routes them once it is back (one journey each)', async () => {
  const contacts = Array.from({ length: 12 }, (_, i) => `outage-${i}`);
  const events: StoredEvent[] = [];
  for (const c of contacts) events.push(await store(c, 'Trial Started', `${c}-trial`));
  const proxy = new TemporalProxy(50);
  const { connection, workflows } = await slowClient(proxy);
  let loop: RouterLoop | undefined;
  try {
    const pass = routeStoredMany(deps(workflows), events, { concurrency: 2, deadlineMs: 1_500 });
    await waitFor(
      async () =>
        (await h.db.query("SELECT 1 FROM events WHERE contact_id LIKE 'outage-%' AND routed_at IS NOT NULL")).rows
          .length > 0,
      'the first event routed',
    );
    proxy.down();
    const down = Date.now();
    const outcomes = await pass;
    // The rest were not each given their deadline.
    expect(Date.now() - down).toBeLessThan(4_000);

    const done = outcomes.filter((o) => o.routing === 'done').length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(events.length);
    const states = await Promise.all(events.map((e) => routing(e.id)));
    expect(states.filter((s) => s.routedAt !== null)).toHaveLength(done);
    expect(states.filter((s) => s.routingError === 'Temporal unavailable (not tried)').length).toBeGreaterThanOrEqual(
      1,
    );

    proxy.up = true;
    loop = startRouterLoop(deps(workflows), { intervalMs: 100 });
    await waitFor(
      async () =>
        (await h.db.query("SELECT 1 FROM events WHERE contact_id LIKE 'outage-%' AND routed_at IS NULL")).rows
          .length === 0,
      'every event routed by the loop',
      30_000,
    );
  } finally {
    await loop?.stop();
    await connection.close();
    await proxy.stop();
  }
  const journeys = await h.db.query<{ contact_id: string; n: number }>(
    "SELECT contact_id, count(*)::int AS n FROM journeys WHERE flow_id = 'trial' AND status = 'running' GROUP BY contact_id",
  );
  expect(journeys.rows.map((r) => [r.contact_id, r.n]).sort()).toEqual(contacts.map((c) => [c, 1]).sort());
  const entries = await h.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM journey_entries WHERE flow_id = 'trial' AND outcome = 'started'",
  );
  expect(entries.rows[0].n).toBe(contacts.length);
  for (const c of contacts) await h.env.client.workflow.getHandle(`journey:trial:${c}`).terminate('test done');
});

test('the router loop leaves an order alone while the checkout before it waits for a retry, then routes both in order', async () => {
  const checkout = await store('late-checkout', 'Checkout Started', 'late-checkout-1');
  const order = await store('late-checkout', 'Order Completed', 'late-order-1');
  // The checkout was deferred (its retry is later); the order is due now.
  await h.db.query("UPDATE events SET next_route_at = now() + interval '1 hour', routing_attempts = 1 WHERE id = $1", [
    checkout.id,
  ]);
  await h.db.query('UPDATE events SET next_route_at = now() WHERE id = $1', [order.id]);

  expect(await routePending(deps(), { leaseMs: 30_000, batch: 50 })).toBe(0);
  expect((await routing(order.id)).routedAt).toBeNull();

  await h.db.query('UPDATE events SET next_route_at = now() WHERE id = $1', [checkout.id]);
  expect(await routePending(deps(), { leaseMs: 30_000, batch: 50 })).toBe(2);
  expect((await routing(checkout.id)).result?.started).toHaveLength(1);
  expect((await routing(order.id)).result?.signalled).toEqual([expect.objectContaining({ flowId: 'cart' })]);
  await expectExitedOnOrder('late-checkout');
});

test("three routers side by side with small claims: every contact's checkout is routed before its order", async () => {
  const contacts = Array.from({ length: 12 }, (_, i) => `crowd-${i}`);
  const ids: number[] = [];
  for (const c of contacts) {
    ids.push((await store(c, 'Checkout Started', `${c}-checkout`)).id);
    ids.push((await store(c, 'Order Completed', `${c}-order`)).id);
  }
  await h.db.query('UPDATE events SET next_route_at = now() WHERE id = ANY($1)', [ids]);
  const other = new Client({ connection: await Connection.connect({ address: h.env.address }) }).workflow;
  try {
    // Claims of 5 split contacts between routers (a checkout in one claim, its order in the next).
    const router = async (workflows: typeof other) => {
      while ((await h.db.query('SELECT 1 FROM events WHERE id = ANY($1) AND routed_at IS NULL', [ids])).rowCount) {
        if ((await routePending(deps(workflows), { leaseMs: 30_000, batch: 5, concurrency: 4 })) === 0)
          await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all([router(h.env.client.workflow), router(other), router(h.env.client.workflow)]);
  } finally {
    await other.connection.close();
  }
  for (const c of contacts) await expectExitedOnOrder(c);
  const orders = await h.db.query<{ routing_result: RoutingResult }>(
    "SELECT routing_result FROM events WHERE id = ANY($1) AND name = 'Order Completed'",
    [ids],
  );
  expect(orders.rows.map((r) => r.routing_result.signalled.length)).toEqual(contacts.map(() => 1));
});

test("two batches routed at once in one process: the second batch's orders wait for the first batch's checkouts", async () => {
  const contacts = Array.from({ length: 8 }, (_, i) => `two-batches-${i}`);
  const checkouts: StoredEvent[] = [];
  const orders: StoredEvent[] = [];
  for (const c of contacts) checkouts.push(await store(c, 'Checkout Started', `${c}-checkout`));
  for (const c of contacts) orders.push(await store(c, 'Order Completed', `${c}-order`));
  const proxy = new TemporalProxy(50);
  const { connection, workflows } = await slowClient(proxy);
  try {
    // As two /v1/batch requests answered one after the other route theirs in the background.
    const [first, second] = await Promise.all([
      routeStoredMany(deps(workflows), checkouts),
      routeStoredMany(deps(workflows), orders),
    ]);
    expect([...first, ...second].map((o) => o.routing)).toEqual([...checkouts, ...orders].map(() => 'done'));
    expect(second.map((o) => o.journeys?.signalled.length)).toEqual(orders.map(() => 1));
  } finally {
    await connection.close();
    await proxy.stop();
  }
  for (const c of contacts) await expectExitedOnOrder(c);
});

test('a contact whose earlier event waits for a retry elsewhere: its later events are left to the loop, which routes them in order', async () => {
  const checkout = await store('waits-elsewhere', 'Checkout Started', 'waits-elsewhere-checkout');
  const order = await store('waits-elsewhere', 'Order Completed', 'waits-elsewhere-order');
  await h.db.query("UPDATE events SET next_route_at = now() + interval '1 hour', routing_attempts = 1 WHERE id = $1", [
    checkout.id,
  ]);

  expect(await routeStoredMany(deps(), [order])).toEqual([{ routing: 'deferred' }]);
  expect(await routing(order.id)).toMatchObject({
    routedAt: null,
    routingError: `waits for event ${checkout.id} of this contact to be routed first`,
  });

  await h.db.query('UPDATE events SET next_route_at = now() WHERE id = $1', [checkout.id]);
  expect(await routePending(deps(), { leaseMs: 30_000, batch: 50 })).toBe(2);
  expect((await routing(order.id)).result?.signalled).toEqual([expect.objectContaining({ flowId: 'cart' })]);
  await expectExitedOnOrder('waits-elsewhere');
});

test('events another pass routed meanwhile (its lease ran out) are not routed again: their journey is not signalled twice', async () => {
  const checkout = await store('lease-ran-out', 'Checkout Started', 'lease-ran-out-checkout');
  const order = await store('lease-ran-out', 'Order Completed', 'lease-ran-out-order');
  const first = await routeStoredMany(deps(), [checkout, order]);
  expect(first[1].journeys?.signalled).toHaveLength(1);
  await expectExitedOnOrder('lease-ran-out');

  // The same events, as a pass that claimed them before the first one finished holds them.
  expect(await routeStoredMany(deps(), [checkout, order])).toEqual(first);
  expect((await routing(order.id)).result).toMatchObject({
    signalled: [expect.objectContaining({ flowId: 'cart' })],
    failed: [],
  });
  const history = await h.journey('cart', 'lease-ran-out').fetchHistory();
  expect(history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBe(1);
});

test('two batches of events routed at once, most of them heard by nothing: each event marked routed with its own outcome, a segment reading one name kept live', async () => {
  const created = await h
    .http('post', '/v1/segments')
    .send({ id: 'wishers', name: 'Wishers', condition: { event: 'Wishlist Added' } });
  expect(created.status).toBe(202);
  await waitFor(
    async () => (await h.http('get', '/v1/segments/wishers')).body.status === 'ready',
    'segment wishers built',
  );

  const batches: StoredEvent[][] = [[], []];
  for (let c = 0; c < 8; c++) {
    const contactId = `quiet-${c}`;
    const batch = batches[c % 2];
    for (let v = 0; v < 3; v++) batch.push(await store(contactId, 'Product Viewed', `${contactId}-view-${v}`));
    if (c % 4 === 0) batch.push(await store(contactId, 'Wishlist Added', `${contactId}-wish`));
    if (c === 1) batch.push(await store(contactId, 'Checkout Started', `${contactId}-checkout`));
  }
  const outcomes = await Promise.all(batches.map((batch) => routeStoredMany(deps(), batch)));

  for (const [b, batch] of batches.entries()) {
    for (const [i, event] of batch.entries()) {
      expect(outcomes[b][i].routing).toBe('done');
      const recorded = await routing(event.id);
      expect(recorded.routedAt).not.toBeNull();
      expect(recorded.result).toEqual(outcomes[b][i].journeys);
      expect(recorded.result?.started).toEqual(
        event.name === 'Checkout Started' ? [expect.objectContaining({ flowId: 'cart' })] : [],
      );
    }
  }
  const members = await h.db.query<{ contact_id: string; source: string }>(
    "SELECT contact_id, source FROM segment_members WHERE segment_id = 'wishers' AND exited_at IS NULL ORDER BY contact_id",
  );
  expect(members.rows).toEqual([
    { contact_id: 'quiet-0', source: 'event' },
    { contact_id: 'quiet-4', source: 'event' },
  ]);
});
