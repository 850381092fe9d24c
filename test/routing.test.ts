/**
 * The one routing path under faults, against the real servers: a step's profile change whose
 * routing fails still enters its flow; a stored event routed twice starts one journey; a
 * journey that cannot take a signal does not keep the event from the others; a router that
 * died mid-start is recovered from Temporal; journeys that ended behind our back are reconciled;
 * signals carry only what the journey reads.
 */
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { contactDataConverter } from '../db/payload-codec';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { CLIENT_CHANNEL_ARGS } from '../runtime/temporal-channel';
import { claimUnrouted, getEvent, eventsSince, insertEvent, markRoutingFailed, releaseBackedOff } from '../db/events';
import type { FlowInput } from '../flows/schema';
import { propertiesListenedTo, slimProperties } from '../flows/listens';
import { reconcileJourneys } from '../routing/reconcile';
import { journeyStartOptions, type RoutingResult } from '../routing/route-event';
import { routeStored } from '../routing/router';
import { routePending, startRouterLoop } from '../routing/router-loop';
import { getFlowVersion } from '../db/flows';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';
import { TemporalProxy } from './helpers/temporal-proxy';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const email = (id: string, subject: string) => ({ id, type: 'email' as const, subject, html: `<p>${subject}</p>` });
const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false },
  steps,
  ...extra,
});
const subjectsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
const routerDeps = () => ({ db: h.db, workflows: h.env.client.workflow, log: h.log });
const journeyRows = async (contactId: string) =>
  (
    await h.db.query<{ flow_id: string; status: string; run_id: string | null; exit_reason: string | null }>(
      'SELECT flow_id, status, run_id, exit_reason FROM journeys WHERE contact_id = $1 ORDER BY id',
      [contactId],
    )
  ).rows;
const storedEvent = async (id: number) => {
  const event = await getEvent(h.db, id);
  if (!event) throw new Error(`no event ${id}`);
  return event;
};

test('a profile change made by a step whose routing fails once still enters the profile-triggered flow', async () => {
  await h.stopRouter();
  try {
    await h.putFlow('score-up', flow('Webinar Attended', [{ id: 'points', type: 'update_profile', score: 60 }]));
    await h.putFlow('hot-lead', {
      name: 'Hot lead',
      status: 'live',
      trigger: { profileChange: { profile: { property: 'lead_score', op: 'gte', value: 50 } } },
      steps: [email('call-you', 'We will call you')],
    });
    await h.identify('warm', { email: 'warm@example.com' });
    await h.track({ userId: 'warm', event: 'Webinar Attended' });
    expect((await h.result('score-up', 'warm')).steps[0].outcome).toBe('updated');

    // The stored change is routed against a Temporal that cannot be reached: deferred, kept.
    const change = await h.db.query<{ id: number }>(
      "SELECT id FROM events WHERE contact_id = 'warm' AND name = 'Profile Updated'",
    );
    expect(change.rows).toHaveLength(1);
    const unreachable = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 });
    const down = { ...routerDeps(), workflows: new Client({ connection: unreachable }).workflow };
    expect(await routeStored(down, await storedEvent(change.rows[0].id), { deadlineMs: 1_000 })).toEqual({
      routing: 'deferred',
    });
    await unreachable.close();
    expect((await storedEvent(change.rows[0].id)).routedAt).toBeNull();
    expect((await h.http('get', '/v1/contacts/warm/journeys')).body.journeys).toEqual([
      expect.objectContaining({ flowId: 'score-up', status: 'completed' }),
    ]);
  } finally {
    h.startRouter();
  }
  // The router loop routes it once its backoff has passed.
  await (await h.journeyStarted('hot-lead', 'warm')).result();
  expect(subjectsTo('warm@example.com')).toEqual(['We will call you']);
});

test('routing one stored event again (a lost "routed" mark) never starts a second journey, even after the first ended', async () => {
  await h.putFlow('welcome', flow('Signed Up', [email('hello', 'Welcome!')]));
  await h.identify('newbie', { email: 'newbie@example.com' });
  const accepted = await h.track({ userId: 'newbie', event: 'Signed Up', messageId: 'signup-newbie' });
  const first = accepted.journeys.started as RoutingResult['started'];
  expect(first).toHaveLength(1);
  await h.result('welcome', 'newbie');
  expect(subjectsTo('newbie@example.com')).toEqual(['Welcome!']);

  // The mark is lost: the router loop routes the event again.
  await h.db.query('UPDATE events SET routed_at = NULL, next_route_at = NULL WHERE id = $1', [accepted.eventId]);
  await waitFor(
    async () => (await storedEvent(accepted.eventId)).routedAt !== null,
    'the event routed again by the loop',
  );
  // And once more by hand, as another process would.
  const again = await routeStored(routerDeps(), await storedEvent(accepted.eventId));

  expect(again.journeys?.started).toEqual(first);
  const description = await h.journey('welcome', 'newbie').describe();
  expect(description.runId).toBe(first[0].runId);
  expect(await journeyRows('newbie')).toEqual([
    expect.objectContaining({ flow_id: 'welcome', status: 'completed', run_id: first[0].runId }),
  ]);
  expect(subjectsTo('newbie@example.com')).toEqual(['Welcome!']);
});

test('a journey that cannot take the signal (its workflow was terminated) does not keep the event from the others', async () => {
  const waitADay = { id: 'wait', type: 'delay' as const, duration: '1 day' };
  const exitOnOrder = { exitWhen: [{ event: 'Order Completed' }] };
  await h.putFlow('cart-reminder', flow('Cart Viewed', [waitADay, email('cart-mail', 'Your cart')], exitOnOrder));
  await h.putFlow(
    'browse-reminder',
    flow('Product Browsed', [waitADay, email('browse-mail', 'Still looking?')], exitOnOrder),
  );
  await h.putFlow('thank-you', flow('Order Completed', [email('thanks', 'Thank you')]));
  await h.identify('buyer', { email: 'buyer@example.com' });
  await h.track({ userId: 'buyer', event: 'Cart Viewed' });
  await h.track({ userId: 'buyer', event: 'Product Browsed' });
  await h.journey('cart-reminder', 'buyer').terminate('support ended it by hand');

  const order = await h.track({ userId: 'buyer', event: 'Order Completed', properties: { total: 20 } });

  expect(order.routing).toBe('done');
  const journeys = order.journeys as RoutingResult;
  expect(journeys.signalled).toEqual([{ flowId: 'browse-reminder', workflowId: 'journey:browse-reminder:buyer' }]);
  expect(journeys.failed).toEqual([
    {
      kind: 'signal',
      flowId: 'cart-reminder',
      workflowId: 'journey:cart-reminder:buyer',
      error: 'the journey has ended',
      refused: false,
    },
  ]);
  expect(journeys.started).toEqual([expect.objectContaining({ flowId: 'thank-you' })]);
  expect((await storedEvent(order.eventId)).routingError).toContain('journey:cart-reminder:buyer');
  expect((await h.result('browse-reminder', 'buyer')).exit).toMatchObject({
    reason: 'flow_filter',
    detectedBy: 'signal',
  });
  await h.result('thank-you', 'buyer');
  expect(subjectsTo('buyer@example.com')).toEqual(['Thank you']);
});

test('a journey terminated behind our back is reconciled: the API stops showing it running', async () => {
  await h.putFlow(
    'long-nurture',
    flow('Trial Started', [{ id: 'wait', type: 'delay', duration: '30 days' }, email('nurture', 'Still there?')]),
  );
  await h.track({ userId: 'trialist', event: 'Trial Started' });
  await h.journey('long-nurture', 'trialist').terminate('reset by support');
  const listed = async () =>
    (await h.http('get', '/v1/contacts/trialist/journeys')).body.journeys as {
      status: string;
      exitReason: string | null;
    }[];
  expect(await listed()).toMatchObject([{ status: 'running' }]);

  await reconcileJourneys(routerDeps(), { staleMs: 0, startGraceMs: 0, limit: 100 });

  expect(await listed()).toMatchObject([{ status: 'terminated', exitReason: 'reconciled' }]);
});

test('a router that died between the start and its records is recovered from Temporal: still one journey', async () => {
  await h.putFlow(
    'onboarding',
    flow('Account Created', [{ id: 'wait', type: 'delay', duration: '2 days' }, email('tips', 'Tips')]),
  );
  await h.identify('crashed', {});
  // Stored, but not routed yet (the loop leaves it alone for a minute, as after a request).
  const at = new Date(await h.env.currentTimeMs()).toISOString();
  const { event } = await insertEvent(
    h.db,
    { messageId: 'crashed-1', type: 'track', contactId: 'crashed', name: 'Account Created', occurredAt: at },
    { routeWithinMs: 60_000 },
  );
  // What the dead router did: claimed the entry, wrote the starting row, started the workflow.
  const definition = await getFlowVersion(h.db, 'onboarding', 1);
  if (!definition) throw new Error('no flow');
  const trigger = {
    id: event.id,
    messageId: event.messageId,
    name: 'Account Created',
    properties: {},
    timestamp: event.occurredAt,
  };
  const options = journeyStartOptions(definition, 'crashed', trigger);
  await h.db.query(
    "INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id, claimed_at) VALUES ('onboarding', $1, 'crashed', $2, now() - interval '1 hour')",
    [event.id, options.workflowId],
  );
  await h.db.query(
    "INSERT INTO journeys (workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, started_at, status) VALUES ($1, 'onboarding', 1, 'crashed', $2, '{}', now(), 'starting')",
    [options.workflowId, event.id],
  );
  const handle = await h.env.client.workflow.start('journeyWorkflow', options);

  const outcome = await routeStored(routerDeps(), event);

  expect(outcome.journeys?.started).toEqual([
    { flowId: 'onboarding', flowVersion: 1, workflowId: options.workflowId, runId: handle.firstExecutionRunId },
  ]);
  expect(await journeyRows('crashed')).toEqual([
    expect.objectContaining({ status: 'running', run_id: handle.firstExecutionRunId }),
  ]);
  expect((await h.journey('onboarding', 'crashed').describe()).runId).toBe(handle.firstExecutionRunId);
  await handle.terminate('test done');
});

test('signals carry only the properties the journey reads; the trigger stays whole', async () => {
  await h.putFlow(
    'big-spender',
    flow('Quote Requested', [{ id: 'wait', type: 'delay', duration: '3 days' }, email('quote', 'Your quote')], {
      exitWhen: [
        {
          event: 'Order Completed',
          where: [
            { property: 'total', op: 'gte', value: 100 },
            { property: 'shipping.country', op: 'equals', value: 'FR' },
          ],
        },
      ],
    }),
  );
  const bulky = 'x'.repeat(8_000);
  await h.track({ userId: 'spender', event: 'Quote Requested', properties: { note: bulky } });
  await h.track({
    userId: 'spender',
    event: 'Order Completed',
    properties: { total: 150, shipping: { country: 'FR', street: bulky }, products: [{ name: bulky }] },
  });
  const result = await h.result('big-spender', 'spender');
  expect(result.exit).toMatchObject({ reason: 'flow_filter', detectedBy: 'signal' });

  const history = await h.journey('big-spender', 'spender').fetchHistory();
  // Stored encrypted with the contact's key (runtime/payload-codec.ts): read through the codec, as support would.
  const codec = contactDataConverter(h.db).payloadCodecs[0];
  const payload = async (attrs: { input?: { payloads?: Payload[] | null } | null } | null | undefined) => {
    const [decoded] = await codec.decode(attrs?.input?.payloads ?? []);
    return JSON.parse(Buffer.from(decoded?.data ?? new Uint8Array()).toString('utf8')) as {
      name?: string;
      properties: Record<string, unknown>;
      trigger?: { properties: Record<string, unknown> };
    };
  };
  const signals = await Promise.all(
    (history.events ?? [])
      .filter((e) => e.workflowExecutionSignaledEventAttributes)
      .map((e) => payload(e.workflowExecutionSignaledEventAttributes)),
  );
  expect(signals).toEqual([
    expect.objectContaining({ name: 'Order Completed', properties: { total: 150, shipping: { country: 'FR' } } }),
  ]);
  const start = await payload(history.events?.[0]?.workflowExecutionStartedEventAttributes);
  expect(start.trigger?.properties).toEqual({ note: bulky });
});

test('the paths a flow reads, per event name', () => {
  const listens = propertiesListenedTo({
    exitWhen: [
      {
        any: [
          {
            event: 'Order Completed',
            where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }],
          },
          { event: 'Refund Issued' },
        ],
      },
    ],
    goal: { event: 'Order Completed', exitOnGoal: true, where: [{ property: 'total', op: 'gt', value: 0 }] },
    steps: [
      {
        id: 'w',
        type: 'wait_for_event',
        event: 'Email Clicked',
        where: [{ property: 'url', op: 'contains', value: 'pricing' }],
        timeout: '1 day',
      },
      { id: 's', type: 'split', condition: { message: 'm', engaged: 'opened' }, then: 'w' },
    ],
  });
  expect(listens).toEqual({
    'Order Completed': ['cart_id', 'total'],
    'Refund Issued': [],
    'Email Clicked': ['message_id', 'url'],
    'Email Opened': ['message_id'],
    'Email Delivered': ['message_id'],
  });
  expect(slimProperties({ a: { b: 1, c: 2 }, list: [{ x: 1, y: 2 }], z: 3 }, ['a.b', 'list.0.x'])).toEqual({
    a: { b: 1 },
    list: { 0: { x: 1 } },
  });
  expect(slimProperties({ z: 3 }, undefined)).toEqual({ z: 3 });
});

test('conditions see the newest events of a contact with a long history, not the oldest 1,000', async () => {
  await h.identify('veteran', {});
  const base = Date.parse('2020-01-01T00:00:00Z');
  await h.db.query(
    `INSERT INTO events (message_id, type, contact_id, name, occurred_at, routed_at)
     SELECT 'veteran-' || i, 'track', 'veteran', 'Page Viewed', $1::timestamptz + i * interval '1 minute', now() FROM generate_series(1, 1200) AS i`,
    [new Date(base).toISOString()],
  );
  const events = await eventsSince(h.db, 'veteran', ['Page Viewed'], '-infinity');
  expect(events).toHaveLength(1000);
  expect(events[events.length - 1].messageId).toBe('veteran-1200');
  expect(Date.parse(events[0].occurredAt)).toBeLessThan(Date.parse(events[events.length - 1].occurredAt));
});

test('a pass of the router loop routes due events in order and leaves routed ones alone', async () => {
  await h.stopRouter();
  try {
    await h.putFlow('visit-mail', flow('Store Visited', [email('visit', 'Thanks for visiting')]));
    await h.identify('visitor', { email: 'visitor@example.com' });
    const { event } = await insertEvent(h.db, {
      messageId: 'visit-1',
      type: 'track',
      contactId: 'visitor',
      name: 'Store Visited',
      occurredAt: new Date(await h.env.currentTimeMs()).toISOString(),
    });
    expect(await routePending(routerDeps())).toBe(1);
    expect(await routePending(routerDeps())).toBe(0);
    expect((await storedEvent(event.id)).routedAt).not.toBeNull();
    await h.result('visit-mail', 'visitor');
    expect(subjectsTo('visitor@example.com')).toEqual(['Thanks for visiting']);
  } finally {
    h.startRouter();
  }
});

test('Temporal down then back: requests answer "deferred" at once, and routing resumes within seconds of the server returning', async () => {
  await h.putFlow(
    'comeback',
    flow('Outage Checkout', [{ id: 'wait', type: 'delay', duration: '1 day' }, email('comeback-mail', 'Your cart')]),
  );
  await h.identify('patient-2', {});
  await h.stopRouter();
  const proxy = new TemporalProxy();
  proxy.up = false;
  const connection = Connection.lazy({ address: await proxy.start(h.env.address), channelArgs: CLIENT_CHANNEL_ARGS });
  const workflows = new Client({ connection }).workflow;
  const app = createApp({
    db: h.db,
    workflows,
    log: h.log,
    apiKeys: [API_KEY],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });
  const router = startRouterLoop({ db: h.db, workflows, log: h.log }, { intervalMs: 200 });
  try {
    const answers: { routing: string; ms: number }[] = [];
    for (const messageId of ['outage-a', 'outage-b', 'outage-c']) {
      const started = Date.now();
      const res = await supertest(app)
        .post('/v1/track')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({
          userId: 'patient-2',
          event: 'Outage Checkout',
          messageId,
          timestamp: new Date(await h.env.currentTimeMs()).toISOString(),
        });
      answers.push({ routing: res.body.routing, ms: Date.now() - started });
    }
    expect(answers.map((a) => a.routing)).toEqual(['deferred', 'deferred', 'deferred']);
    // The first waits out the short inline deadline; the next ones skip Temporal while it is down.
    expect(answers[0].ms).toBeLessThan(1_500);
    expect(Math.max(answers[1].ms, answers[2].ms)).toBeLessThan(300);
    // Down a few seconds more: gRPC's reconnect backoff grows meanwhile.
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await h.http('get', '/v1/contacts/patient-2/journeys')).body.journeys).toEqual([]);

    proxy.up = true;
    const back = Date.now();
    await waitFor(
      async () => (await h.http('get', '/v1/contacts/patient-2/journeys')).body.journeys.length > 0,
      'the journey started after the outage',
    );
    expect(Date.now() - back).toBeLessThan(5_000);
    await waitFor(
      async () =>
        (await h.db.query("SELECT count(*)::int AS n FROM events WHERE contact_id = 'patient-2' AND routed_at IS NULL"))
          .rows[0].n === 0,
      'every deferred event routed',
    );
    // Three deferred checkouts, one journey: the later two found it running.
    const outcomes = await h.db.query<{ routing_result: RoutingResult }>(
      "SELECT routing_result FROM events WHERE contact_id = 'patient-2' AND type = 'track' ORDER BY id",
    );
    expect(outcomes.rows.map((r) => [r.routing_result.started.length, r.routing_result.alreadyInFlow.length])).toEqual([
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    await h.journey('comeback', 'patient-2').terminate('test done');
  } finally {
    await router.stop();
    await proxy.stop();
    await connection.close().catch(() => undefined);
    h.startRouter();
  }
});

test('two routers side by side (two processes) route each due event once: one journey per contact, none twice', async () => {
  await h.stopRouter();
  try {
    await h.putFlow(
      'crowd',
      flow('Crowd Joined', [{ id: 'wait', type: 'delay', duration: '1 day' }, email('crowd-mail', 'Hello crowd')]),
    );
    const at = new Date(await h.env.currentTimeMs()).toISOString();
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) {
      await h.identify(`crowd-${i}`, {});
      ids.push(
        (
          await insertEvent(h.db, {
            messageId: `crowd-${i}`,
            type: 'track',
            contactId: `crowd-${i}`,
            name: 'Crowd Joined',
            occurredAt: at,
          })
        ).event.id,
      );
    }
    const other = new Client({ connection: await Connection.connect({ address: h.env.address }) }).workflow;
    try {
      const passes = await Promise.all([
        routePending(routerDeps(), { leaseMs: 30_000, batch: 7 }),
        routePending({ ...routerDeps(), workflows: other }, { leaseMs: 30_000, batch: 7 }),
        routePending(routerDeps(), { leaseMs: 30_000, batch: 7 }),
      ]);
      expect(passes.reduce((a, b) => a + b, 0)).toBe(20);
    } finally {
      await other.connection.close();
    }
    const routed = await h.db.query<{ routing_result: RoutingResult }>(
      'SELECT routing_result FROM events WHERE id = ANY($1)',
      [ids],
    );
    expect(routed.rows.every((r) => r.routing_result.started.length === 1)).toBe(true);
    const rows = await h.db.query<{ n: number; contacts: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT contact_id)::int AS contacts FROM journeys WHERE flow_id = 'crowd' AND status = 'running'",
    );
    expect(rows.rows[0]).toEqual({ n: 20, contacts: 20 });
    const entries = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM journey_entries WHERE flow_id = 'crowd' AND outcome = 'started'",
    );
    expect(entries.rows[0].n).toBe(20);
    for (let i = 0; i < 20; i++) await h.journey('crowd', `crowd-${i}`).terminate('test done');
  } finally {
    h.startRouter();
  }
});

test('Temporal back in one process releases the backed-off events only: an event another router has claimed keeps its lease', async () => {
  await h.stopRouter();
  const claimedByUs: number[] = [];
  try {
    const at = new Date(await h.env.currentTimeMs()).toISOString();
    const stored = async (contactId: string) => {
      await h.identify(contactId, {});
      return (
        await insertEvent(h.db, {
          messageId: `${contactId}-1`,
          type: 'track',
          contactId,
          name: 'Lease Kept',
          occurredAt: at,
        })
      ).event.id;
    };
    // Both failed once during an outage; one is due again and claimed by a router (another
    // process, say), the other waits for its backoff.
    const leased = await stored('lease-kept');
    const backedOff = await stored('lease-backed-off');
    await markRoutingFailed(h.db, leased, 'Temporal unavailable', 0);
    await markRoutingFailed(h.db, backedOff, 'Temporal unavailable', 60_000);
    claimedByUs.push(...(await claimUnrouted(h.db, 30_000, 1_000)).map((e) => e.id));
    expect(claimedByUs).toContain(leased);
    expect(claimedByUs).not.toContain(backedOff);

    // This process saw the outage end: it releases the backoffs.
    expect(await releaseBackedOff(h.db)).toBeGreaterThanOrEqual(1);
    const due = await h.db.query<{ id: string; due: boolean }>(
      'SELECT id, next_route_at <= now() AS due FROM events WHERE id = ANY($1)',
      [[leased, backedOff]],
    );
    expect(Object.fromEntries(due.rows.map((r) => [Number(r.id), r.due]))).toEqual({
      [leased]: false,
      [backedOff]: true,
    });
    // A second router takes the backed-off event, not the one being routed.
    const second = (await claimUnrouted(h.db, 30_000, 1_000)).map((e) => e.id);
    claimedByUs.push(...second);
    expect(second).toContain(backedOff);
    expect(second).not.toContain(leased);
  } finally {
    // Whatever this test claimed is due again for the router loop.
    await h.db.query('UPDATE events SET next_route_at = now(), routing_claimed_at = NULL WHERE id = ANY($1)', [
      claimedByUs,
    ]);
    h.startRouter();
  }
});

test('an event routed while a journey is starting (row written, workflow not yet there) is kept and reaches the journey', async () => {
  await h.stopRouter();
  try {
    await h.putFlow(
      'slow-start',
      flow('Demo Booked', [{ id: 'wait', type: 'delay', duration: '2 days' }, email('demo-mail', 'See you')], {
        exitWhen: [{ event: 'Demo Cancelled' }],
      }),
    );
    await h.identify('booker', {});
    const at = new Date(await h.env.currentTimeMs()).toISOString();
    const { event: trigger } = await insertEvent(
      h.db,
      { messageId: 'demo-1', type: 'track', contactId: 'booker', name: 'Demo Booked', occurredAt: at },
      { routeWithinMs: 60_000 },
    );
    // Another router is between the row and the start: its claim is fresh, its row says starting.
    const definition = await getFlowVersion(h.db, 'slow-start', 1);
    if (!definition) throw new Error('no flow');
    const options = journeyStartOptions(definition, 'booker', {
      id: trigger.id,
      messageId: trigger.messageId,
      name: 'Demo Booked',
      properties: {},
      timestamp: at,
    });
    await h.db.query(
      "INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ('slow-start', $1, 'booker', $2)",
      [trigger.id, options.workflowId],
    );
    await h.db.query(
      `INSERT INTO journeys (workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, listens, started_at, status)
       VALUES ($1, 'slow-start', 1, 'booker', $2, '{Demo Cancelled}', '{"Demo Cancelled": []}', now(), 'starting')`,
      [options.workflowId, trigger.id],
    );

    const { event: cancel } = await insertEvent(h.db, {
      messageId: 'demo-cancel',
      type: 'track',
      contactId: 'booker',
      name: 'Demo Cancelled',
      occurredAt: at,
    });
    expect(await routeStored(routerDeps(), cancel)).toEqual({ routing: 'deferred' });
    expect((await storedEvent(cancel.id)).routingError).toContain('is starting');

    // The other router's start goes through; the deferred event is routed again and heard.
    await h.env.client.workflow.start('journeyWorkflow', options);
    await waitFor(
      async () => (await routeStored(routerDeps(), await storedEvent(cancel.id))).routing === 'done',
      'the cancel routed once the journey runs',
    );
    expect((await storedEvent(cancel.id)).routingResult).toMatchObject({
      signalled: [{ flowId: 'slow-start', workflowId: options.workflowId }],
    });
    expect((await h.result('slow-start', 'booker')).exit).toMatchObject({
      reason: 'flow_filter',
      detectedBy: 'signal',
    });
  } finally {
    h.startRouter();
  }
});
