/**
 * Campaigns against the real servers (Postgres, the time-skipping Temporal server, the worker
 * with the real activities, the real @sendgrid/mail client at the fake SendGrid): a newsletter to
 * a segment and a list with exclusions and consent, sent once per recipient in one request; a
 * click in it carrying the campaign id starts a flow; pause, resume and cancel; a page retried
 * after the provider took it never sends twice; local-time and recurring schedules; a worker
 * killed after claiming a page but before the provider call (sent once by the retry) or after
 * it (unknown, never resent), and a stalled attempt that lost its claim cannot send.
 */
import { sign } from 'node:crypto';
import { DateTime } from 'luxon';
import supertest from 'supertest';
import { createCampaignActivities } from '../activities/campaign';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { claimCampaignMessages, getCampaign, handToProvider, remaining } from '../db/campaigns';
import type { Condition } from '../flows/schema';
import { campaignProgressQuery, campaignWorkflowId, type CampaignProgress } from '../workflows/campaign-messages';
import { waitFor } from './helpers/fake-http';
import { campaignHelpers } from './helpers/campaigns';
import { Harness, SENDGRID_WEBHOOK_KEYS, TEST_LINKS } from './helpers/harness';

let h: Harness;
const { createList, putCampaign, recordHistory, run, deliveries, messagesOf } = campaignHelpers(() => h);

beforeAll(async () => {
  h = await Harness.start({ today: true, consentEmail: 'opt_out' });
});
afterAll(() => h?.stop());

async function createSegment(id: string, condition: Condition) {
  const res = await h.http('post', '/v1/segments').send({ id, name: id, condition });
  if (res.status !== 202) throw new Error(`POST segment: ${res.status} ${JSON.stringify(res.body)}`);
  await waitFor(async () => (await h.http('get', `/v1/segments/${id}`)).body.status === 'ready', `segment ${id} built`);
}

function postSendgrid(events: object[]) {
  const body = JSON.stringify(events);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.from(timestamp + body), SENDGRID_WEBHOOK_KEYS.privateKey).toString('base64');
  return supertest(h.app)
    .post('/v1/webhooks/sendgrid')
    .set('content-type', 'application/json')
    .set('X-Twilio-Email-Event-Webhook-Signature', signature)
    .set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp)
    .send(body);
}

test('a newsletter to a segment and a list, minus exclusions: one request, each recipient once, consent and addresses respected', async () => {
  for (const [id, traits] of [
    ['nl-ann', { email: 'ann@example.com', plan: 'pro', first_name: 'Ann' }],
    ['nl-bob', { email: 'bob@example.com', plan: 'pro' }],
    ['nl-cat', { email: 'cat@example.com', plan: 'pro', consent: { email: 'unsubscribed' } }],
    ['nl-dan', { plan: 'pro' }],
    ['nl-eve', { email: 'eve@example.com', plan: 'free' }],
    ['nl-fay', { email: 'fay@example.com', plan: 'pro' }],
  ] as const)
    await h.identify(id, traits);
  await createSegment('nl-pro', { profile: { property: 'plan', op: 'equals', value: 'pro' } });
  await createList('nl-subscribers', ['nl-eve', 'nl-ann']);
  await createList('nl-excluded', ['nl-fay']);

  const saved = await putCampaign('summer', {
    name: "C'est l'été",
    message: {
      type: 'email',
      subject: 'Summer picks for {{ contact.first_name | default: "you" }}',
      html: '<p>Our summer selection</p><a href="{{ unsubscribe_url }}">unsubscribe</a>',
    },
    audience: { segments: ['nl-pro'], lists: ['nl-subscribers'], exclude: { lists: ['nl-excluded'] } },
  });
  expect(saved).toMatchObject({ id: 'summer', status: 'draft' });

  expect((await h.http('post', '/v1/campaigns/summer/send')).status).toBe(202);
  const result = (await run('summer').result()) as CampaignProgress;
  expect(result).toMatchObject({ status: 'completed', recipients: 5, sent: 3, skipped: 2 });
  await recordHistory('newsletter', campaignWorkflowId('summer'));

  // Ann, Bob, Eve, once each, in ONE SendGrid request; Fay excluded; Cat unsubscribed; Dan has no email.
  const sent = deliveries('summer');
  expect(sent.map((d) => d.to).sort()).toEqual(['ann@example.com', 'bob@example.com', 'eve@example.com']);
  expect(new Set(sent.map((d) => d.request)).size).toBe(1);
  expect(sent.find((d) => d.to === 'ann@example.com')!.subject).toBe('Summer picks for Ann');
  expect(sent.find((d) => d.to === 'bob@example.com')!.subject).toBe('Summer picks for you');
  // Each recipient's own unsubscribe link (substitution) and one-click header; custom args name our message.
  const messages = await messagesOf('summer');
  for (const d of sent) {
    const row = messages.find((m) => m.id === d.customArgs.parcours_message_id)!;
    expect(row.status).toBe('sent');
    expect(d.html).toContain(`${TEST_LINKS.publicUrl}/u/`);
    expect(d.headers['List-Unsubscribe']).toContain(d.html.match(/href="([^"]+\/u\/[^"]+)"/)![1]);
  }
  expect(new Set(sent.map((d) => d.html)).size).toBe(3);
  expect(messages.map((m) => [m.contact_id, m.status, m.reason])).toEqual([
    ['nl-ann', 'sent', null],
    ['nl-bob', 'sent', null],
    ['nl-cat', 'skipped', 'address is suppressed'],
    ['nl-dan', 'skipped', 'contact has no email address'],
    ['nl-eve', 'sent', null],
  ]);

  // Sent once: a second send is refused.
  expect((await h.http('post', '/v1/campaigns/summer/send')).body.error.code).toBe('already_started');
  const got = await h.http('get', '/v1/campaigns/summer');
  expect(got.body).toMatchObject({
    status: 'completed',
    runs: [{ runId: 'summer', status: 'completed', recipients: 5, settled: 5, pending: 0 }],
  });

  // A click in the campaign (SendGrid's event webhook) is an Email Clicked carrying the campaign id:
  // a flow triggered on it starts; an order afterwards is the campaign's conversion.
  await h.putFlow('summer-clickers', {
    name: 'Summer clickers',
    status: 'live',
    trigger: { event: 'Email Clicked', where: [{ property: 'campaign_id', op: 'equals', value: 'summer' }] },
    smartSending: { enabled: false },
    steps: [{ id: 'follow-up', type: 'delay', duration: '1 hour' }],
  });
  const annMessage = messages.find((m) => m.contact_id === 'nl-ann')!;
  // Stamped from the send: the time-skipping server's clock (which sent it, from the test "today")
  // may since have jumped years ahead while the test awaited the run.
  const sentAt = annMessage.sent_at!.getTime();
  const click = {
    email: 'ann@example.com',
    timestamp: Math.floor(sentAt / 1000) + 30,
    event: 'click',
    url: 'https://shop.example.com/summer',
    sg_event_id: 'click-ann-1',
    sg_message_id: 'sg-1.filter',
    parcours_message_id: annMessage.id,
    parcours_campaign_id: 'summer',
  };
  expect(
    (
      await postSendgrid([
        click,
        { ...click, event: 'open', sg_event_id: 'open-ann-1' },
        { ...click, event: 'delivered', sg_event_id: 'dlv-ann-1' },
      ])
    ).status,
  ).toBe(200);
  await h.journeyStarted('summer-clickers', 'nl-ann');
  const clicked = await h.db.query<{ properties: Record<string, unknown> }>(
    "SELECT properties FROM events WHERE contact_id = 'nl-ann' AND name = 'Email Clicked'",
  );
  expect(clicked.rows[0].properties).toMatchObject({ campaign_id: 'summer', message_id: annMessage.id });
  await h.track({
    userId: 'nl-ann',
    event: 'Order Completed',
    properties: { total: 80, revenue: 65 },
    messageId: 'nl-ann-order',
    timestamp: new Date(sentAt + 60_000).toISOString(),
  });

  // What an order is worth is one rule (total 80, revenue 65): 80 in the contact's total spent and in the campaign's
  // revenue below.
  expect((await h.http('get', '/v1/contacts/nl-ann')).body.computed).toMatchObject({ orderCount: 1, totalSpent: 80 });
  const stats = await h.http('get', '/v1/campaigns/summer/stats');
  expect(stats.status).toBe(200);
  expect(stats.body).toMatchObject({
    recipients: 5,
    totals: { sent: 3, skipped: 2, delivered: 1, opened: 1, clicked: 1, converted: 1, revenue: 80 },
    variants: [
      {
        variant: 'message',
        channel: 'email',
        sent: 3,
        skippedByReason: { 'address is suppressed': 1, 'contact has no email address': 1 },
      },
    ],
  });
});

test('an SMS campaign to 25 subscribers: each gets one SMS; a slow provider gets at most 10 calls at once', async () => {
  const ids = Array.from({ length: 25 }, (_, i) => `sms-${String(i).padStart(2, '0')}`);
  const phone = (i: number) => `+336220000${String(i).padStart(2, '0')}`;
  for (const [i, id] of ids.entries()) await h.identify(id, { phone: phone(i), consent: { sms: 'subscribed' } });
  await createList('sms-subscribers', ids);
  await putCampaign('sms-flash', {
    name: 'Flash SMS',
    message: { type: 'sms', body: 'Flash sale today' },
    audience: { lists: ['sms-subscribers'] },
  });
  const before = h.twilio.arrivals.length;
  // Each answer 1.5 s after the request: the 11th request can only leave once a first answer is back.
  const ANSWER_MS = 1_500;
  h.twilio.answerDelayMs = ANSWER_MS;
  try {
    expect((await h.http('post', '/v1/campaigns/sms-flash/send')).status).toBe(202);
    expect(await run('sms-flash').result()).toMatchObject({ status: 'completed', recipients: 25, sent: 25 });
  } finally {
    h.twilio.answerDelayMs = 0;
  }
  const received = h.twilio.messages.filter((m) => m.body === 'Flash sale today').map((m) => m.to);
  expect(received.sort()).toEqual(ids.map((_, i) => phone(i)));
  // Requests that arrived within less than one answer time of each other were in flight together.
  const arrivals = h.twilio.arrivals.slice(before);
  const together = arrivals.map((at) => arrivals.filter((t) => t >= at && t < at + ANSWER_MS - 100).length);
  expect(Math.max(...together)).toBeLessThanOrEqual(10);
  expect(Math.max(...together)).toBeGreaterThan(1);
});

test('a bad campaign is a 400 naming the field; unknown audiences are named', async () => {
  const bad = await h
    .http('put', '/v1/campaigns/bad')
    .send({ name: 'x', message: { type: 'email', subject: '', html: 'x' }, audience: { lists: [] } });
  expect(bad.status).toBe(400);
  const paths = (bad.body.error.issues as { path: unknown[] }[]).map((i) => i.path.join('.'));
  expect(paths).toEqual(expect.arrayContaining(['message.subject', 'audience']));
  const unknown = await h
    .http('put', '/v1/campaigns/bad')
    .send({ name: 'x', message: { type: 'sms', body: 'hi' }, audience: { segments: ['nope'] } });
  expect(unknown.status).toBe(400);
  expect(unknown.body.error.issues).toEqual([{ path: ['audience', 'segments', 0], message: 'no segment "nope"' }]);
  const template = await h.http('put', '/v1/campaigns/bad').send({
    name: 'x',
    message: { type: 'email', subject: 'Hi {{ contact.name', html: 'x' },
    audience: { lists: ['nl-subscribers'] },
  });
  expect(template.status).toBe(400);
  expect(template.body.error.issues[0].path).toEqual(['message', 'subject']);
  expect((await h.http('post', '/v1/campaigns/nothing/send')).status).toBe(404);
  expect((await h.http('post', '/v1/campaigns/summer/pause')).body.error.code).toBe('not_running');
});

test('smart sending: a campaign skips who got a marketing email within the window; with it off, everyone gets it', async () => {
  // Polled, not awaited with result(): awaiting lets the time-skipping server jump far ahead, past any window.
  const completed = async (id: string) => {
    await waitFor(async () => (await progressOf(id)).status === 'completed' && true, `${id} completed`);
    return progressOf(id);
  };
  await contactsOnList('ss-list', 'ss', 2);
  const message = { type: 'email', subject: 'Hello', html: '<p>hi</p>' } as const;
  await putCampaign('ss-first', { name: 'First', message, audience: { lists: ['ss-list'] } });
  expect((await h.http('post', '/v1/campaigns/ss-first/send')).status).toBe(202);
  expect(await completed('ss-first')).toMatchObject({ status: 'completed', sent: 2, skipped: 0 });

  // Smart sending on (the default, 16 h): both got the first one moments ago.
  await putCampaign('ss-second', { name: 'Second', message, audience: { lists: ['ss-list'] } });
  expect((await h.http('post', '/v1/campaigns/ss-second/send')).status).toBe(202);
  expect(await completed('ss-second')).toMatchObject({ status: 'completed', sent: 0, skipped: 2 });
  expect(deliveries('ss-second')).toEqual([]);
  for (const m of await messagesOf('ss-second'))
    expect(m.reason).toMatch(/^smart sending: a marketing email went out 0\.\d h ago \(window 16 h\)$/);

  // Off: the last send is not even read, and both get the third one.
  await putCampaign('ss-third', {
    name: 'Third',
    message,
    audience: { lists: ['ss-list'] },
    smartSending: { enabled: false },
  });
  expect((await h.http('post', '/v1/campaigns/ss-third/send')).status).toBe(202);
  expect(await completed('ss-third')).toMatchObject({ status: 'completed', sent: 2, skipped: 0 });
  expect(
    deliveries('ss-third')
      .map((d) => d.to)
      .sort(),
  ).toEqual(['ss-000@example.com', 'ss-001@example.com']);
});

async function contactsOnList(
  list: string,
  prefix: string,
  n: number,
  traits: (i: number) => Record<string, unknown> = () => ({}),
) {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  for (const [i, id] of ids.entries()) await h.identify(id, { email: `${id}@example.com`, ...traits(i) });
  await createList(list, ids);
  return ids;
}

const progressOf = (runId: string) => run(runId).query(campaignProgressQuery);

test('pause, resume and cancel a throttled campaign; pages are paced by the throttle (durable timers)', async () => {
  await contactsOnList('pr-list', 'pr', 20);
  // 12 a minute: pages of one, one every 5 seconds.
  await putCampaign('paced', {
    name: 'Paced',
    message: { type: 'email', subject: 'Paced', html: '<p>hi</p>' },
    audience: { lists: ['pr-list'] },
    throttlePerMinute: 12,
  });
  expect((await h.http('post', '/v1/campaigns/paced/send')).status).toBe(202);
  await waitFor(async () => deliveries('paced').length >= 1 && true, 'the first page');
  await h.env.sleep('10 seconds');
  await waitFor(async () => deliveries('paced').length >= 3 && true, 'two more pages after 10 seconds');

  expect((await h.http('post', '/v1/campaigns/paced/pause')).status).toBe(202);
  await waitFor(async () => (await progressOf('paced')).status === 'paused' && true, 'paused');
  const atPause = deliveries('paced').length;
  await h.env.sleep('10 minutes');
  expect(deliveries('paced').length).toBe(atPause);
  expect((await h.http('get', '/v1/campaigns/paced')).body.status).toBe('paused');

  expect((await h.http('post', '/v1/campaigns/paced/resume')).status).toBe(202);
  await waitFor(async () => deliveries('paced').length > atPause && true, 'sending again after resume');
  await h.env.sleep('10 seconds');
  await waitFor(async () => deliveries('paced').length >= atPause + 3 && true, 'paced again');

  expect((await h.http('post', '/v1/campaigns/paced/cancel')).status).toBe(202);
  const result = (await run('paced').result()) as CampaignProgress;
  expect(result.status).toBe('cancelled');
  await recordHistory('paused-resumed-cancelled', campaignWorkflowId('paced'));
  const atCancel = deliveries('paced').length;
  expect(atCancel).toBeLessThan(20);
  expect(result.sent).toBe(atCancel);
  await h.env.sleep('10 minutes');
  expect(deliveries('paced').length).toBe(atCancel);
  expect((await h.http('get', '/v1/campaigns/paced')).body).toMatchObject({
    status: 'cancelled',
    runs: [{ status: 'cancelled', recipients: 20, settled: atCancel }],
  });

  // Pacing: consecutive sends 5 s apart (the throttle, within 5 %), each recipient once.
  const times = (await messagesOf('paced'))
    .filter((m) => m.status === 'sent')
    .map((m) => m.sent_at!.getTime())
    .sort((a, b) => a - b);
  for (let i = 1; i < times.length; i += 1) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(4_750);
  expect(new Set(deliveries('paced').map((d) => d.to)).size).toBe(atCancel);
});

test('a page the provider took but whose answer was lost is never sent again; a page refused with 503 is retried and sent once', async () => {
  await contactsOnList('lost-list', 'lost', 3);
  await contactsOnList('retry-list', 'retry', 3);
  // The fake takes the request, then answers after the client's 15 s timeout: outcome unknown.
  h.sendgrid.enqueue({ status: 202, delayMs: 20_000 });
  await putCampaign('lost', {
    name: 'Lost answer',
    message: { type: 'email', subject: 'Lost', html: '<p>x</p>' },
    audience: { lists: ['lost-list'] },
  });
  await h.http('post', '/v1/campaigns/lost/send');
  const lost = (await run('lost').result()) as CampaignProgress;
  expect(lost).toMatchObject({ status: 'completed', sent: 0, unknown: 3 });
  const lostRequests = h.sendgrid.requests.filter((r) => r.body.includes('"parcours_campaign_id":"lost"'));
  expect(lostRequests).toHaveLength(1);
  expect((await messagesOf('lost')).map((m) => m.status)).toEqual(['unknown', 'unknown', 'unknown']);

  // 503: SendGrid did not take it; the activity is retried and the page goes out once.
  h.sendgrid.enqueue({ status: 503, body: { errors: [{ message: 'try later' }] } });
  await putCampaign('retried', {
    name: 'Retried',
    message: { type: 'email', subject: 'Retried', html: '<p>x</p>' },
    audience: { lists: ['retry-list'] },
  });
  await h.http('post', '/v1/campaigns/retried/send');
  const retried = (await run('retried').result()) as CampaignProgress;
  expect(retried).toMatchObject({ status: 'completed', sent: 3 });
  expect(
    h.sendgrid.requests.filter((r) => r.body.includes('"parcours_campaign_id":"retried"')).map((r) => r.status),
  ).toEqual([503, 202]);
  expect(
    deliveries('retried')
      .map((d) => d.to)
      .sort(),
  ).toEqual(['retry-000@example.com', 'retry-001@example.com', 'retry-002@example.com']);
}, 60_000);

test("a local-time send: 10:00 in each contact's zone, one timer and one request per zone", async () => {
  const zones = ['Asia/Tokyo', 'Europe/Paris', 'America/New_York'];
  await contactsOnList('tz-list', 'tz', 6, (i) => ({ timezone: zones[i % 3] }));
  const day = new Date((await h.env.currentTimeMs()) + 3 * 86_400_000).toISOString().slice(0, 10);
  await putCampaign('local', {
    name: 'Local ten',
    message: { type: 'email', subject: 'Bonjour', html: '<p>x</p>' },
    audience: { lists: ['tz-list'] },
    schedule: { type: 'at', at: `${day}T00:00:00Z`, localTime: '10:00' },
  });
  expect((await h.http('post', '/v1/campaigns/local/schedule')).body).toEqual({ id: 'local', status: 'scheduled' });
  expect((await h.http('get', '/v1/campaigns/local')).body.status).toBe('scheduled');
  const result = (await run('local').result()) as CampaignProgress;
  expect(result).toMatchObject({ status: 'completed', recipients: 6, sent: 6 });
  await recordHistory('local-time', campaignWorkflowId('local'));
  const sent = await messagesOf('local');
  for (const m of sent) {
    const zone = zones[Number(m.contact_id.slice(3)) % 3];
    expect(DateTime.fromJSDate(m.sent_at!, { zone }).toFormat('yyyy-MM-dd HH:mm')).toBe(`${day} 10:00`);
  }
  // Tokyo first, then Paris, then New York: three requests of two.
  const order = deliveries('local').map((d) => [d.request, d.to.slice(0, 6)]);
  expect(new Set(order.map(([r]) => r)).size).toBe(3);
  expect(order.map(([, to]) => to)).toEqual(['tz-000', 'tz-003', 'tz-001', 'tz-004', 'tz-002', 'tz-005']);
}, 60_000);

test('a recurring daily campaign: one run per day at 10:00, each with the audience of that day', async () => {
  await contactsOnList('daily-list', 'daily', 2);
  await putCampaign('daily', {
    name: 'Searched yesterday',
    message: { type: 'email', subject: 'Still thinking about it?', html: '<p>x</p>' },
    audience: { lists: ['daily-list'] },
    schedule: { type: 'recurring', every: 'day', at: '10:00', timezone: 'Europe/Paris' },
  });
  expect((await h.http('post', '/v1/campaigns/daily/schedule')).body).toEqual({ id: 'daily', status: 'scheduled' });
  let next = DateTime.fromMillis(await h.env.currentTimeMs(), { zone: 'Europe/Paris' }).set({
    hour: 10,
    minute: 0,
    second: 0,
    millisecond: 0,
  });
  if (next.toMillis() <= (await h.env.currentTimeMs())) next = next.plus({ days: 1 });
  const schedule = h.env.client.workflow.getHandle('campaign-schedule:daily');
  // Skip time only once the scheduler's timer exists (skipping first would move the timer too).
  const armedFor = (at: typeof next) =>
    waitFor(
      async () => (await schedule.query(campaignProgressQuery).catch(() => undefined))?.nextAt === at.toUTC().toISO(),
      `the timer for ${at.toISO()}`,
    );
  // Each occurrence is a run of its own (campaign_runs), sent by the scheduler workflow.
  const occurrence = (runId: string) =>
    waitFor(async () => {
      const runs = (await h.http('get', '/v1/campaigns/daily')).body.runs as { runId: string; status: string }[];
      return runs.find((r) => r.runId === runId && r.status === 'completed');
    }, `occurrence ${runId}`);
  const runIdOf = (at: typeof next) => `daily@${at.toUTC().toISO({ suppressMilliseconds: false })}`;

  await armedFor(next);
  await h.env.sleep(next.toMillis() - (await h.env.currentTimeMs()) + 1_000);
  expect(await occurrence(runIdOf(next))).toMatchObject({ recipients: 2, settled: 2 });

  // A new member joins: the next day's run freezes its own audience.
  await h.identify('daily-new', { email: 'daily-new@example.com' });
  expect(
    (await h.http('post', '/v1/lists/daily-list/members').send({ contacts: [{ contactId: 'daily-new' }] })).status,
  ).toBeLessThan(300);
  const second = next.plus({ days: 1 });
  await armedFor(second);
  await h.env.sleep(second.toMillis() - (await h.env.currentTimeMs()) + 1_000);
  expect(await occurrence(runIdOf(second))).toMatchObject({ recipients: 3, settled: 3 });
  expect(
    deliveries('daily')
      .map((d) => d.to)
      .sort(),
  ).toEqual([
    'daily-000@example.com',
    'daily-000@example.com',
    'daily-001@example.com',
    'daily-001@example.com',
    'daily-new@example.com',
  ]);
  const sentAt = (await messagesOf('daily')).map((m) =>
    DateTime.fromJSDate(m.sent_at!, { zone: 'Europe/Paris' }).toFormat('HH:mm'),
  );
  expect(sentAt).toEqual(['10:00', '10:00', '10:00', '10:00', '10:00']);

  expect((await h.http('post', '/v1/campaigns/daily/cancel')).status).toBe(202);
  await waitFor(
    async () => (await h.http('get', '/v1/campaigns/daily')).body.status === 'cancelled' && true,
    'schedule cancelled',
  );
  await recordHistory('recurring-cancelled', 'campaign-schedule:daily');
}, 60_000);

test('an A/B test of the subject: the test share gets both variants, the better open rate goes to the rest after 4 hours', async () => {
  const ids = await contactsOnList('ab-list', 'ab', 20);
  await putCampaign('ab', {
    name: 'Soldes',
    message: { type: 'email', subject: 'Les soldes', html: '<p>Soldes</p>' },
    audience: { lists: ['ab-list'] },
    abTest: {
      variants: [
        { id: 'plain', subject: 'Les soldes commencent' },
        { id: 'urgent', subject: 'Dernières heures !' },
      ],
      testPercent: 50,
      winnerBy: 'opens',
      after: '4 hours',
    },
  });
  expect((await h.http('post', '/v1/campaigns/ab/send')).status).toBe(202);
  // Half the audience, spread evenly: five of each variant; the rest waits for the winner.
  const test = await waitFor(async () => deliveries('ab').length === 10 && deliveries('ab'), 'the test share');
  const subjects = test.map((d) => d.subject);
  expect(subjects.filter((s) => s === 'Les soldes commencent')).toHaveLength(5);
  expect(subjects.filter((s) => s === 'Dernières heures !')).toHaveLength(5);
  // The page's deliveries reach the fake before its activity returns: the winner's timer is set just after.
  await waitFor(async () => (await progressOf('ab')).nextAt !== undefined && true, 'the winner timer set');

  // Two opens of "urgent" (one twice: unique opens count), one of "plain".
  const rows = (
    await h.db.query<{ id: string; step_id: string }>(
      "SELECT id, step_id FROM messages WHERE campaign_id = 'ab' ORDER BY contact_id",
    )
  ).rows;
  const urgent = rows.filter((r) => r.step_id === 'urgent');
  const plain = rows.filter((r) => r.step_id === 'plain');
  const openedAt = Math.floor((await h.env.currentTimeMs()) / 1000);
  const open = (id: string, n: number) => ({
    email: 'x@example.com',
    timestamp: openedAt,
    event: 'open',
    sg_event_id: `ab-open-${id}-${n}`,
    sg_message_id: 'sg.f',
    parcours_message_id: id,
    parcours_campaign_id: 'ab',
  });
  expect(
    (await postSendgrid([open(urgent[0].id, 1), open(urgent[0].id, 2), open(urgent[1].id, 1), open(plain[0].id, 1)]))
      .status,
  ).toBe(200);

  const result = (await run('ab').result()) as CampaignProgress;
  expect(result).toMatchObject({ status: 'completed', recipients: 20, sent: 20, winner: 'urgent' });
  const rest = deliveries('ab').slice(10);
  expect(rest.map((d) => d.subject)).toEqual(Array(10).fill('Dernières heures !'));
  expect(new Set(deliveries('ab').map((d) => d.to)).size).toBe(20);
  expect(new Set(deliveries('ab').map((d) => d.to))).toEqual(new Set(ids.map((id) => `${id}@example.com`)));

  const stats = (await h.http('get', '/v1/campaigns/ab/stats')).body;
  expect(
    stats.variants.map((v: { variant: string; sent: number; opened: number }) => [v.variant, v.sent, v.opened]).sort(),
  ).toEqual([
    ['plain', 5, 1],
    ['urgent', 15, 2],
  ]);
  await recordHistory('ab-test', campaignWorkflowId('ab'));
});

test('a worker killed after claiming a page but before calling SendGrid: the retry sends it exactly once; killed after the call: unknown, never resent', async () => {
  const [beforeCall, afterCall, fresh] = await contactsOnList('crash-list', 'crash', 3);
  // What a killed attempt leaves, written by the activity's own two phases: both claimed under a
  // lease that has run out, only `afterCall` marked as handed to the provider.
  const key = { runId: 'crashed', campaignId: 'crashed', channel: 'email', variant: 'main' };
  const claimed = await claimCampaignMessages(h.db, key, {
    owner: 'killed-worker',
    leaseMs: 300,
    provider: 'sendgrid',
    recipients: [beforeCall, afterCall].map((contactId) => ({
      contactId,
      recipient: `${contactId}@example.com`,
      content: { subject: 'Crashed' },
    })),
  });
  expect((await handToProvider(h.db, 'killed-worker', [claimed.get(afterCall)!])).size).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 400)); // the lease (300 ms) is over: the claims are dead

  await putCampaign('crashed', {
    name: 'Crashed',
    message: { type: 'email', subject: 'Crashed', html: '<p>x</p>' },
    audience: { lists: ['crash-list'] },
  });
  await h.http('post', '/v1/campaigns/crashed/send');
  const result = (await run('crashed').result()) as CampaignProgress;
  expect(result).toMatchObject({ status: 'completed', sent: 2, unknown: 1 });
  // Each recipient once: the page never handed over is sent by the retry, the handed one is not resent.
  expect(
    deliveries('crashed')
      .map((d) => d.to)
      .sort(),
  ).toEqual([`${beforeCall}@example.com`, `${fresh}@example.com`]);
  const rows = await messagesOf('crashed');
  expect(Object.fromEntries(rows.map((m) => [m.contact_id, m.status]))).toEqual({
    [beforeCall]: 'sent',
    [afterCall]: 'unknown',
    [fresh]: 'sent',
  });
  expect(rows.find((m) => m.contact_id === afterCall)!.reason).toMatch(/outcome unknown/);
}, 60_000);

test('an attempt that stalled past its lease and lost its claim to the retry cannot hand that message to the provider', async () => {
  const [contactId] = await contactsOnList('stall-list', 'stall', 1);
  const key = { runId: 'stalled', campaignId: 'stalled', channel: 'email', variant: 'main' };
  const attempt = (owner: string, leaseMs: number) =>
    claimCampaignMessages(h.db, key, {
      owner,
      leaseMs,
      provider: 'sendgrid',
      recipients: [{ contactId, recipient: `${contactId}@example.com`, content: { subject: 'Stalled' } }],
    });
  const id = (await attempt('stalled-attempt', 1)).get(contactId)!;
  await new Promise((resolve) => setTimeout(resolve, 10));
  expect((await attempt('retry-attempt', 30_000)).get(contactId)).toBe(id); // the dead, never handed claim is taken over
  expect(await attempt('third-attempt', 30_000)).toEqual(new Map()); // a live claim is not
  // The stalled attempt wakes up: it may not send; the retry may, once.
  expect(await handToProvider(h.db, 'stalled-attempt', [id])).toEqual(new Set());
  expect(await handToProvider(h.db, 'retry-attempt', [id])).toEqual(new Set([id]));
});

/** The campaign activities on their own (a page run by hand), over `db`, with the harness's SendGrid. */
function pageActivities(db: typeof h.db, sendLeaseMs?: number) {
  const none = { name: 'none', send: () => Promise.reject(new Error('email only')) };
  return createCampaignActivities({
    db,
    email: sendgridProvider({ apiKey: 'SG.test-key', baseUrl: h.sendgrid.url }),
    sms: none,
    push: none,
    emailFrom: 'shop@example.com',
    links: TEST_LINKS,
    sendLeaseMs,
  });
}

test('a stalled page whose claims the retry took marks none of those recipients done: if the retry dies too, a later page still sends them', async () => {
  const contacts = await contactsOnList('stall-page-list', 'stall-page', 2);
  await putCampaign('stall-page', {
    name: 'Stall page',
    message: { type: 'email', subject: 'Stall', html: '<p>x</p>' },
    audience: { lists: ['stall-page-list'] },
  });
  const campaign = (await getCampaign(h.db, 'stall-page'))!.definition;
  const runId = 'stall-page-run';
  // The stalled attempt: its claims' lease (1 ms) runs out before it hands the page over, and
  // the retry claims them in between (the real database, the retry's own claim statement).
  const key = { runId, campaignId: 'stall-page', channel: 'email', variant: 'main' };
  const retryClaim = () =>
    claimCampaignMessages(h.db, key, {
      owner: 'retry-attempt',
      leaseMs: 60_000,
      provider: 'sendgrid',
      recipients: contacts.map((contactId) => ({
        contactId,
        recipient: `${contactId}@example.com`,
        content: { subject: 'Stall' },
      })),
    });
  let tookOver = 0;
  const stalledDb = new Proxy(h.db, {
    get(target, prop) {
      if (prop === 'query') {
        return async (...args: Parameters<typeof target.query>) => {
          if (typeof args[0] === 'string' && args[0].startsWith('UPDATE messages SET provider_called_at')) {
            await new Promise((resolve) => setTimeout(resolve, 10));
            tookOver = (await retryClaim()).size;
          }
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as typeof h.db;
  const stalled = pageActivities(stalledDb, 1);
  await stalled.freezeCampaignAudience({ runId, campaign, now: Date.now() });
  const outcome = await stalled.sendCampaignPage({ runId, campaign, now: Date.now(), afterOrd: 0, limit: 10 });
  expect(tookOver).toBe(2);
  expect(outcome).toMatchObject({ settled: 0, sent: 0 });
  expect(deliveries('stall-page')).toEqual([]);
  // Not done: they are the retry's; had it died too, its dead claims (never handed) are sent by a later page.
  expect(await remaining(h.db, runId)).toMatchObject({ pending: 2 });
  await h.db.query("UPDATE messages SET lease_until = now() - interval '1 second' WHERE campaign_run_id = $1", [runId]);
  const later = pageActivities(h.db);
  expect(await later.sendCampaignPage({ runId, campaign, now: Date.now(), afterOrd: 0, limit: 10 })).toMatchObject({
    settled: 2,
    sent: 2,
  });
  await waitFor(async () => deliveries('stall-page').length === 2, 'both sent by the later page');
  expect(
    deliveries('stall-page')
      .map((d) => d.to)
      .sort(),
  ).toEqual(contacts.map((c) => `${c}@example.com`));
  expect(await remaining(h.db, runId)).toMatchObject({ pending: 0 });
});
