/**
 * Win-back at day 90 on the real servers (Postgres, the time-skipping Temporal server, the
 * worker, the router loop). First the "obvious" flow a user writes (trigger Order Completed,
 * wait 90 days, exit on a later order), then the inactivity trigger built on the segments'
 * time-based entries.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
const DAY = 86_400_000;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const emailsTo = (email: string) => h.sendgrid.emails.filter((e) => e.to === email);
const journeysOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/journeys`)).body.journeys as {
    flowId: string;
    status: string;
    exitReason: string | null;
    triggerEventId: number;
    startedAt: string;
  }[];

test('the obvious flow: exiting on its own trigger is refused at save, pointing to the inactivity trigger', async () => {
  const res = await h.http('put', '/v1/flows/naive-winback').send({
    name: 'Naive win-back',
    status: 'live',
    trigger: { event: 'Order Completed' },
    exitWhen: [{ event: 'Order Completed' }],
    steps: [
      { id: 'wait-90', type: 'delay', duration: '90 days' },
      { id: 'miss-you', type: 'email', subject: 'We miss you', html: '<p>Come back</p>' },
    ],
  });
  expect(res.status).toBe(400);
  expect(res.body.error.issues).toEqual([
    {
      path: ['exitWhen', 0],
      message: expect.stringContaining('"inactivity": { "event": "Order Completed", "for": "90 days" }'),
    },
  ]);
});

test('inactivity triggers are checked at save: a span out of range, an unknown field, a fromTrigger in its where; a self-ending goal is refused too', async () => {
  const base = { name: 'x', steps: [{ id: 'hi', type: 'email', subject: 'Hi', html: '<p>Hi</p>' }] };
  const put = (body: object) => h.http('put', '/v1/flows/inactivity-checks').send({ ...base, ...body });
  const tooLong = await put({ trigger: { inactivity: { event: 'Order Completed', for: '400 days' } } });
  expect(tooLong.status).toBe(400);
  expect(tooLong.body.error.issues).toContainEqual({
    path: ['trigger', 'inactivity', 'for'],
    message: expect.stringContaining('out of range'),
  });
  const unknown = await put({ trigger: { inactivity: { event: 'Order Completed', for: '90 days', since: 'signup' } } });
  expect(unknown.status).toBe(400);
  const fromTrigger = await put({
    trigger: {
      inactivity: {
        event: 'Order Completed',
        for: '90 days',
        where: [{ property: 'shop', op: 'equals', value: { fromTrigger: 'shop' } }],
      },
    },
  });
  expect(fromTrigger.status).toBe(400);
  expect(fromTrigger.body.error.issues).toEqual([
    { path: ['trigger', 'inactivity', 'where', 0, 'value'], message: expect.stringContaining('fromTrigger') },
  ]);
  const goal = await put({
    trigger: { event: 'Order Completed' },
    goal: { event: 'Order Completed', exitOnGoal: true },
  });
  expect(goal.status).toBe(400);
  expect(goal.body.error.issues).toEqual([{ path: ['goal'], message: expect.stringContaining('"inactivity"') }]);
});

test('a flow triggered by an order that exits on another order: the second order ends the first journey and starts the next one', async () => {
  await h.putFlow('order-then-wait', {
    name: 'Order, then wait',
    status: 'live',
    trigger: { event: 'Order Completed' },
    exitWhen: [
      {
        event: 'Order Completed',
        where: [{ property: 'order_id', op: 'not_equals', value: { fromTrigger: 'order_id' } }],
      },
    ],
    smartSending: { enabled: false },
    steps: [
      { id: 'wait-90', type: 'delay', duration: '90 days' },
      { id: 'miss-you', type: 'email', subject: 'We miss you', html: '<p>Come back</p>' },
    ],
  });
  await h.identify('twice', { email: 'twice@example.com' });
  const first = await h.track({
    userId: 'twice',
    event: 'Order Completed',
    properties: { order_id: 'a', total: 20 },
    messageId: 'twice-o1',
  });
  expect(first.journeys.started).toHaveLength(1);
  await h.env.sleep(30 * DAY);
  const second = await h.track({
    userId: 'twice',
    event: 'Order Completed',
    properties: { order_id: 'b', total: 30 },
    messageId: 'twice-o2',
  });
  // Before the fix this answered alreadyInFlow (the first journey had not finished exiting)
  // and the contact was never re-armed.
  expect(second.journeys.alreadyInFlow).toEqual([]);
  expect(second.journeys.started).toHaveLength(1);
  await h.env.sleep(89 * DAY);
  expect(emailsTo('twice@example.com')).toEqual([]);
  const result = await h.result('order-then-wait', 'twice');
  expect(result.status).toBe('completed');
  expect(emailsTo('twice@example.com').map((e) => e.subject)).toEqual(['We miss you']);
  const journeys = await journeysOf('twice');
  expect(journeys.map((j) => [j.status, j.exitReason]).sort()).toEqual([
    ['completed', null],
    ['exited', 'flow_filter'],
  ]);
});

const membership = async (segmentId: string, contactId: string) =>
  (
    await h.db.query<{ seq: number; entered_at: Date; exited_at: Date | null; source: string }>(
      'SELECT seq, entered_at, exited_at, source FROM segment_members WHERE segment_id = $1 AND contact_id = $2 ORDER BY seq',
      [segmentId, contactId],
    )
  ).rows;
const occurredAt = async (eventId: number) =>
  (
    await h.db.query<{ occurred_at: Date }>('SELECT occurred_at FROM events WHERE id = $1', [eventId])
  ).rows[0].occurred_at.getTime();
const order = (userId: string, messageId: string, extra: Record<string, unknown> = {}) =>
  h.track({ userId, event: 'Order Completed', properties: { order_id: messageId, total: 40 }, messageId, ...extra });
const winbackJourneys = async (contactId: string, flowId = 'lapsed-90') =>
  (await journeysOf(contactId)).filter((j) => j.flowId === flowId).sort((a, b) => a.triggerEventId - b.triggerEventId);

test('inactivity trigger: entered exactly 90 days after the SECOND order, re-armed by a third; never for a contact who never ordered; each message once', async () => {
  await h.http('post', '/v1/flows/order-then-wait/archive');
  h.sendgrid.reset();
  // Already lapsed before the flow exists: the documented rule says not entered (built as a member).
  await h.identify('old', { email: 'old@example.com' });
  // (The build reads the wall clock; the test server's runs ahead of it once time is skipped.)
  await order('old', 'old-o1', {
    timestamp: new Date(Math.min(Date.now(), await h.env.currentTimeMs()) - 200 * DAY).toISOString(),
  });

  const put = await h.http('put', '/v1/flows/lapsed-90').send({
    name: 'Win-back',
    status: 'live',
    trigger: { inactivity: { event: 'Order Completed', for: '90 days' } },
    smartSending: { enabled: false },
    steps: [
      {
        id: 'miss-you',
        type: 'email',
        subject: 'We miss you, {{ contact.firstName }}',
        html: '<p>10% off with COMEBACK</p>',
      },
      { id: 'wait-14', type: 'delay', duration: '14 days' },
      { id: 'last-chance', type: 'email', subject: 'Last chance', html: '<p>COMEBACK ends tonight</p>' },
    ],
  });
  expect(put.status).toBe(201);
  const segmentId: string = put.body.inactivitySegment;
  expect(segmentId).toMatch(/^inactive-[0-9a-f]{16}$/);
  const segment = await waitFor(async () => {
    const got = await h.http('get', `/v1/segments/${segmentId}`);
    return got.body.status === 'ready' && got.body;
  }, 'the system segment built');
  expect(segment).toMatchObject({
    name: 'No Order Completed for 90 days',
    condition: { event: 'Order Completed', last: { op: 'more_than_ago', value: '90 days' } },
    timeBased: true,
  });
  expect(await membership(segmentId, 'old')).toEqual([expect.objectContaining({ source: 'build', exited_at: null })]);

  await h.identify('wb', { email: 'wb@example.com', firstName: 'Wanda' });
  await h.identify('never', { email: 'never@example.com' });
  const o1 = await order('wb', 'wb-o1');
  const t0 = await occurredAt(o1.eventId);
  await h.env.sleep(30 * DAY);
  const o2 = await order('wb', 'wb-o2');
  const t1 = await occurredAt(o2.eventId);

  // 90 days after the FIRST order (and a day more): nothing.
  await h.env.sleep(t0 + 91 * DAY - (await h.env.currentTimeMs()));
  expect(await membership(segmentId, 'wb')).toEqual([]);
  expect(await winbackJourneys('wb')).toEqual([]);

  // 90 days after the SECOND order: entered, at that instant, by the segment clock.
  await h.env.sleep(t1 + 90 * DAY - (await h.env.currentTimeMs()) + 1000);
  const [stay] = await waitFor(
    async () => (await membership(segmentId, 'wb')).length > 0 && membership(segmentId, 'wb'),
    'the lapse',
  );
  expect(stay.entered_at.getTime()).toBe(t1 + 90 * DAY);
  await waitFor(async () => emailsTo('wb@example.com').length === 1, 'the win-back email');
  expect(emailsTo('wb@example.com').map((e) => e.subject)).toEqual(['We miss you, Wanda']);
  const [first] = await waitFor(
    async () => (await winbackJourneys('wb')).length === 1 && winbackJourneys('wb'),
    'the journey',
  );
  const trigger = (
    await h.db.query<{ name: string; occurred_at: Date; properties: Record<string, unknown> }>(
      'SELECT name, occurred_at, properties FROM events WHERE id = $1',
      [first.triggerEventId],
    )
  ).rows[0];
  expect(trigger).toMatchObject({
    name: 'Segment Entered',
    occurred_at: new Date(t1 + 90 * DAY),
    properties: { segment_id: segmentId, source: 'clock' },
  });

  // Readable in the Temporal UI: who, which flow, what started it, what ends it.
  const description = await h.journey('lapsed-90', 'wb').describe();
  expect(await description.staticSummary()).toBe('Win-back (v1) for contact wb');
  expect(await description.staticDetails()).toContain('Triggered by **Segment Entered**');
  expect(await description.staticDetails()).toContain('"event":"Order Completed"');

  // A third order during the journey: it leaves at once (no last chance), and the segment too.
  await h.env.sleep(5 * DAY);
  const o3 = await order('wb', 'wb-o3');
  const t2 = await occurredAt(o3.eventId);
  expect(o3.journeys.signalled).toEqual([{ flowId: 'lapsed-90', workflowId: 'journey:lapsed-90:wb' }]);
  const exited = await h.result('lapsed-90', 'wb');
  expect(exited.status).toBe('exited');
  await waitFor(
    async () => (await membership(segmentId, 'wb'))[0]?.exited_at?.getTime() === t2,
    'left the segment at the order',
  );

  // Re-armed by it: entered again exactly 90 days after the third order; this time the journey runs to its end.
  await h.env.sleep(t2 + 90 * DAY - (await h.env.currentTimeMs()) + 1000);
  const stays = await waitFor(async () => {
    const rows = await membership(segmentId, 'wb');
    return rows.length === 2 && rows;
  }, 'the second lapse');
  expect(stays[1].entered_at.getTime()).toBe(t2 + 90 * DAY);
  await waitFor(async () => (await winbackJourneys('wb')).length === 2, 'the second journey');
  const done = await h.result('lapsed-90', 'wb');
  expect(done.status).toBe('completed');
  expect(emailsTo('wb@example.com').map((e) => e.subject)).toEqual([
    'We miss you, Wanda',
    'We miss you, Wanda',
    'Last chance',
  ]);
  expect((await winbackJourneys('wb')).map((j) => [j.status, j.exitReason])).toEqual([
    ['exited', 'flow_filter'],
    ['completed', null],
  ]);

  // Never ordered: never in the segment, never entered. Already lapsed at activation: not entered.
  for (const who of ['never', 'old']) {
    expect(await winbackJourneys(who)).toEqual([]);
    expect(emailsTo(`${who}@example.com`)).toEqual([]);
  }
  expect(await membership(segmentId, 'never')).toEqual([]);
  await h.http('post', '/v1/flows/lapsed-90/archive');
});

test('the ready-made win-back (flows/library/win-back.json) installs as-is and shares the system segment', async () => {
  const file = readFileSync(path.join(__dirname, '..', 'flows', 'library', 'win-back.json'), 'utf8');
  const put = await h.http('put', '/v1/flows/win-back').set('Content-Type', 'application/json').send(file);
  expect(put.status).toBe(201);
  expect(put.body).toMatchObject({
    id: 'win-back',
    status: 'draft',
    trigger: { inactivity: { event: 'Order Completed', for: '90 days', exitOnReturn: true } },
  });
  const activated = await h.http('post', '/v1/flows/win-back/activate');
  expect(activated.body).toMatchObject({ status: 'live', inactivitySegment: put.body.inactivitySegment });
  // The same condition as the flow above: one segment, one clock per contact.
  expect(
    (await h.http('get', '/v1/segments')).body.segments.filter((s: { id: string }) => s.id.startsWith('inactive-')),
  ).toHaveLength(1);

  await h.identify('lib', { email: 'lib@example.com', firstName: 'Lea' });
  const o = await order('lib', 'lib-o1');
  const t = await occurredAt(o.eventId);
  await h.env.sleep(t + 90 * DAY - (await h.env.currentTimeMs()) + 1000);
  await h.journeyStarted('win-back', 'lib', 30_000);
  const result = await h.result('win-back', 'lib');
  expect(result.status).toBe('completed');
  expect(emailsTo('lib@example.com').map((e) => e.subject)).toEqual([
    'Lea, we miss you: 15% off your next order',
    'Your COMEBACK15 code expires soon',
  ]);
});
