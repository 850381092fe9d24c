/**
 * Per-flow numbers (`GET /v1/flows/:id/stats`) over a scripted run of real journeys: 13
 * contacts through a two-email flow (two versions), engagement recorded as providers report
 * it, and orders placed at chosen times around the messages, so every number is known.
 */
import type { FlowInput } from '../flows/schema';
import { recordEngagement } from '../engagement/record';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** welcome, a day, followup; out on an order (goal), on "Stats Stop" (filter) or on unsubscribe. */
const statsFlow = (followupSubject: string): FlowInput => ({
  name: 'Stats',
  status: 'live',
  trigger: { event: 'Stats Started' },
  exitWhen: [{ event: 'Stats Stop' }],
  goal: { event: 'Order Completed', exitOnGoal: true },
  onUnsubscribe: 'exit',
  smartSending: { enabled: false, hours: 16 },
  steps: [
    {
      id: 'check',
      type: 'split',
      condition: { trigger: { property: 'quick', op: 'equals', value: true } },
      then: 'bye',
      else: 'welcome',
    },
    { id: 'bye', type: 'exit', reason: 'quick exit' },
    { id: 'welcome', type: 'email', subject: 'Welcome', html: '<p>Welcome</p>' },
    { id: 'wait', type: 'delay', duration: '1 day' },
    { id: 'followup', type: 'email', subject: followupSubject, html: '<p>Still there?</p>' },
  ],
});

const otherFlow: FlowInput = {
  name: 'Other',
  status: 'live',
  trigger: { event: 'Other Started' },
  smartSending: { enabled: false, hours: 16 },
  steps: [{ id: 'other-mail', type: 'email', subject: 'Something else', html: '<p>Else</p>' }],
};

interface Message {
  id: string;
  flowId: string;
  stepId: string;
  status: string;
  sentAt: string | null;
}

const message = async (contactId: string, stepId: string, flowId = 'stats-flow'): Promise<Message> => {
  const res = await h.http('get', `/v1/contacts/${contactId}/messages`);
  const found = (res.body.messages as Message[]).find((m) => m.flowId === flowId && m.stepId === stepId);
  if (!found) throw new Error(`no ${flowId}/${stepId} message for ${contactId}`);
  return found;
};
const sentAt = async (contactId: string, stepId: string, flowId?: string) =>
  Date.parse((await message(contactId, stepId, flowId)).sentAt!);
const serverNow = async () => new Date(await h.env.currentTimeMs()).toISOString();

let eventSeq = 0;
const engage = async (
  contactId: string,
  stepId: string,
  ...types: ('delivered' | 'open' | 'click' | 'bounce' | 'unsubscribe')[]
) => {
  const { id } = await message(contactId, stepId);
  for (const type of types) {
    const outcome = await recordEngagement(
      { db: h.db, workflows: h.env.client.workflow, log: h.log },
      {
        message: id,
        source: 'sendgrid',
        sourceEventId: `sg-${(eventSeq += 1)}`,
        type,
        occurredAt: await serverNow(),
        data: {},
      },
    );
    expect(outcome).toBe('recorded');
  }
};

const order = (userId: string, at: number, properties: Record<string, unknown>, event = 'Order Completed') =>
  h.track({ userId, event, properties, timestamp: new Date(at).toISOString(), messageId: `order-${(eventSeq += 1)}` });

const start = async (userId: string, traits: Record<string, unknown>, properties: Record<string, unknown> = {}) => {
  await h.identify(userId, traits);
  const res = await h.track({ userId, event: 'Stats Started', properties, messageId: `start-${userId}` });
  expect(res.journeys.started).toHaveLength(1);
};

const settledWelcomes = async (n: number) => {
  const { rows } = await h.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM messages WHERE flow_id = 'stats-flow' AND step_id = 'welcome' AND status IN ('sent', 'skipped')",
  );
  return rows[0].n === n;
};

const V1 = ['c01', 'c02', 'c03', 'c04', 'c05', 'c06', 'c07', 'c08', 'c09', 'c10', 'c11'];
const exits: Record<string, string> = {};

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('stats-flow', statsFlow('Still there?'));
  await h.putFlow('other-flow', otherFlow);

  // Version 1: eleven contacts enter. c05 has no email address; c10 leaves at once by the exit step.
  for (const c of V1)
    await start(
      c,
      c === 'c05' ? { firstName: 'No mail' } : { email: `${c}@example.com` },
      c === 'c10' ? { quick: true } : {},
    );
  await waitFor(() => settledWelcomes(10), 'the ten welcome emails (one skipped)');

  // While the journeys wait out their day: engagement with the welcome email, and three ways out.
  await engage('c01', 'welcome', 'delivered', 'open', 'open', 'click'); // the second open is no second opener
  await engage('c02', 'welcome', 'delivered');
  await engage('c03', 'welcome', 'delivered', 'open');
  await engage('c04', 'welcome', 'delivered', 'unsubscribe'); // onUnsubscribe: exit
  await engage('c06', 'welcome', 'bounce'); // hard bounce: the followup is skipped (suppressed)
  await engage('c07', 'welcome', 'delivered');
  await engage('c09', 'welcome', 'click'); // a click implies an open
  await h.track({ userId: 'c02', event: 'Order Completed', properties: { order_id: 'c02-1', total: 40 } }); // goal: out, converted on welcome
  await h.track({ userId: 'c03', event: 'Stats Stop' }); // flow filter

  for (const c of V1) exits[c] = (await h.journey('stats-flow', c).result()).exit?.reason ?? 'completed';

  await engage('c01', 'followup', 'delivered', 'open');
  await engage('c07', 'followup', 'delivered');

  // c08 then gets another flow's email: the last touch before its order is not ours.
  await h.track({ userId: 'c08', event: 'Other Started', messageId: 'other-c08' });
  await h.result('other-flow', 'c08');

  // Orders, placed relative to the messages' (journey-time) sent_at.
  await order('c01', (await sentAt('c01', 'followup')) + DAY, { revenue: 100, total: 120 }); // followup (not also welcome): 120
  await order('c07', (await sentAt('c07', 'followup')) + 6 * DAY, { revenue: 70 }); // outside 5 days, inside 7
  await order('c08', (await sentAt('c08', 'other-mail', 'other-flow')) + HOUR, { revenue: 55 }); // other-flow's
  await order('c09', (await sentAt('c09', 'followup')) + 2 * HOUR, { revenue: 10 }); // followup
  await order('c09', (await sentAt('c09', 'followup')) + 3 * DAY, { revenue: 15 }); // followup again: 2 conversions
  await order('c11', (await sentAt('c11', 'welcome')) - HOUR, { revenue: 999 }); // before any message: nobody's
  await order('c11', (await sentAt('c11', 'followup')) + HOUR, { revenue: 500 }, 'Product Viewed'); // not the goal
  await order('c11', (await sentAt('c11', 'welcome')) + HOUR, { order_id: 'no-amount' }); // welcome was the last touch then: 1 conversion, 0 revenue

  // Version 2: c12 goes through and orders; c13 is still waiting when the numbers are read.
  await h.putFlow('stats-flow', statsFlow('Still there? (v2)'));
  await start('c12', { email: 'c12@example.com' });
  exits.c12 = (await h.result('stats-flow', 'c12')).exit?.reason ?? 'completed';
  await order('c12', (await sentAt('c12', 'followup')) + HOUR, { revenue: 30 });
  await start('c13', { email: 'c13@example.com' });
  await waitFor(() => settledWelcomes(12), "c13's welcome email");
}, 180_000);
afterAll(() => h?.stop());

const get = (path: string) => h.http('get', path);
const stepOf = (version: { steps: { stepId: string }[] }, stepId: string) =>
  version.steps.find((s) => s.stepId === stepId);

test('the scripted journeys ended as planned', () => {
  expect(exits).toEqual({
    c01: 'completed',
    c02: 'goal',
    c03: 'flow_filter',
    c04: 'unsubscribed',
    c05: 'completed',
    c06: 'completed',
    c07: 'completed',
    c08: 'completed',
    c09: 'completed',
    c10: 'exit_step',
    c11: 'completed',
    c12: 'completed',
  });
});

test('entries, exits by reason, sends and unique engagement per version and step', async () => {
  const res = await get('/v1/flows/stats-flow/stats');

  expect(res.status).toBe(200);
  expect(res.body.flowId).toBe('stats-flow');
  expect(res.body.conversionWindowDays).toBe(5);
  const [v1, v2] = res.body.versions;
  expect(res.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);

  expect(v1.entered).toBe(11);
  expect(v1.exited).toEqual({
    completed: 7,
    goal: 1,
    flow_filter: 1,
    unsubscribed: 1,
    exit_step: 1,
    archived: 0,
    failed: 0,
    running: 0,
  });
  // Only steps that produced messages, in the flow's order.
  expect(v1.steps.map((s: { stepId: string }) => s.stepId)).toEqual(['welcome', 'followup']);
  expect(stepOf(v1, 'welcome')).toEqual({
    stepId: 'welcome',
    channel: 'email',
    sent: 9,
    skipped: 1,
    skippedByReason: { 'contact has no email address': 1 },
    failed: 0,
    unknown: 0,
    pending: 0,
    delivered: 5,
    bounced: 1,
    opened: 3,
    clicked: 2,
    unsubscribed: 1,
    converted: 2,
    revenue: 40,
  });
  expect(stepOf(v1, 'followup')).toEqual({
    stepId: 'followup',
    channel: 'email',
    sent: 5,
    skipped: 2,
    skippedByReason: { 'contact has no email address': 1, 'address is suppressed': 1 },
    failed: 0,
    unknown: 0,
    pending: 0,
    delivered: 2,
    bounced: 0,
    opened: 1,
    clicked: 0,
    unsubscribed: 0,
    converted: 3,
    revenue: 145,
  });
  expect(v1).toMatchObject({ goalEvent: 'Order Completed', converted: 5, revenue: 185 });
  // What an order is worth is one rule: c01's order (total 120, revenue 100) is 120 in the flow's revenue and in the
  // contact's total spent.
  expect((await h.http('get', '/v1/contacts/c01')).body.computed).toMatchObject({ orderCount: 1, totalSpent: 120 });

  expect(v2.entered).toBe(2);
  expect(v2.exited).toMatchObject({ completed: 1, running: 1, goal: 0 });
  expect(stepOf(v2, 'welcome')).toMatchObject({ sent: 2, converted: 0 });
  expect(stepOf(v2, 'followup')).toMatchObject({ sent: 1, converted: 1, revenue: 30 });

  expect(res.body.totals).toEqual({
    entered: 13,
    exited: {
      completed: 8,
      goal: 1,
      flow_filter: 1,
      unsubscribed: 1,
      exit_step: 1,
      archived: 0,
      failed: 0,
      running: 1,
    },
    sent: 17,
    skipped: 3,
    failed: 0,
    unknown: 0,
    delivered: 7,
    bounced: 1,
    opened: 4,
    clicked: 2,
    unsubscribed: 1,
    converted: 6,
    revenue: 215,
  });
});

test('conversions go to the last message within the window: one per order, never to older or foreign messages', async () => {
  // c01's order is 1 day after followup and 2 after welcome: followup only. c07's is 6 days
  // after its followup: out of the 5-day window. c11's first order precedes every message.
  const five = (await get('/v1/flows/stats-flow/stats?version=1')).body.versions[0];
  expect(
    five.steps.map((s: { stepId: string; converted: number; revenue: number }) => [s.stepId, s.converted, s.revenue]),
  ).toEqual([
    ['welcome', 2, 40],
    ['followup', 3, 145],
  ]);

  // A 7-day window takes in c07's order (70), credited to its followup, and nothing else.
  const seven = await get('/v1/flows/stats-flow/stats?version=1&conversionWindowDays=7');
  expect(seven.body.conversionWindowDays).toBe(7);
  expect(stepOf(seven.body.versions[0], 'followup')).toMatchObject({ converted: 4, revenue: 215 });
  expect(stepOf(seven.body.versions[0], 'welcome')).toMatchObject({ converted: 2, revenue: 40 });

  // c08's order followed other-flow's email: that flow has it, this one does not.
  const other = await get('/v1/flows/other-flow/stats');
  expect(other.body.versions[0].steps).toEqual([
    expect.objectContaining({ stepId: 'other-mail', sent: 1, converted: 1, revenue: 55 }),
  ]);
  expect(other.body.totals).toMatchObject({ entered: 1, sent: 1, converted: 1, revenue: 55 });
});

test('the version filter keeps to one version', async () => {
  const v1 = await get('/v1/flows/stats-flow/stats?version=1');
  expect(v1.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
  expect(v1.body.totals).toMatchObject({ entered: 11, sent: 14, converted: 5, revenue: 185 });

  const v2 = await get('/v1/flows/stats-flow/stats?version=2');
  expect(v2.body.versions.map((v: { version: number }) => v.version)).toEqual([2]);
  expect(v2.body.totals).toMatchObject({
    entered: 2,
    sent: 3,
    converted: 1,
    revenue: 30,
    exited: expect.objectContaining({ completed: 1, running: 1 }),
  });
});

test('an unknown flow or version is a 404; a bad query is a 400', async () => {
  const unknown = await get('/v1/flows/no-such-flow/stats');
  expect(unknown.status).toBe(404);
  expect(unknown.body).toEqual({
    error: { code: 'not_found', message: 'flow "no-such-flow" not found' },
    code: 'not_found',
    message: 'flow "no-such-flow" not found',
  });
  expect((await get('/v1/flows/stats-flow/stats?version=3')).status).toBe(404);

  for (const query of [
    'conversionWindowDays=0',
    'conversionWindowDays=91',
    'conversionWindowDays=abc',
    'conversionWindowDays=2.5',
    'version=0',
    'version=x',
    'window=7',
  ]) {
    const res = await get(`/v1/flows/stats-flow/stats?${query}`);
    expect([query, res.status, res.body.error?.code]).toEqual([query, 400, 'invalid_request']);
  }
  expect((await get('/v1/flows/stats-flow/stats?conversionWindowDays=90')).status).toBe(200);
});
