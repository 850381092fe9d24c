/**
 * Campaign extras against the real servers (Postgres, the time-skipping Temporal server, the
 * worker with the real activities, the real @sendgrid/mail client at the fake SendGrid): the
 * frequency cap with priorities (an email cap of 1 a day; a promotion gives way to an
 * abandoned-cart reminder, skipping or waiting), a holdout's lift, and schedules relative to a
 * calendar moment.
 */
import { DateTime } from 'luxon';
import { isHeldOut, holdoutLift, type GroupTotals } from '../audiences/holdout';
import { momentDate } from '../calendar/moments';
import { momentOccurrence } from '../campaigns/occurrences';
import { campaignHoldoutKey, type CampaignInput } from '../campaigns/schema';
import type { FlowInput } from '../flows/schema';
import { campaignProgressQuery, campaignWorkflowId, type CampaignProgress } from '../workflows/campaign-messages';
import { waitFor } from './helpers/fake-http';
import { deliveriesOf } from './helpers/fake-sendgrid';
import { campaignHelpers } from './helpers/campaigns';
import { Harness } from './helpers/harness';

let h: Harness;
const { createList, putCampaign, recordHistory, run, deliveries, messagesOf } = campaignHelpers(() => h);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  h = await Harness.start({ today: true, consentEmail: 'opt_out', frequencyCapPerChannel: { email: 1 } });
});
afterAll(() => h?.stop());

async function contactsOnList(list: string, prefix: string, n: number) {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  for (const id of ids) await h.identify(id, { email: `${id}@example.com` });
  await createList(list, ids);
  return ids;
}

const flowMessage = async (contactId: string, flowId: string) =>
  (
    await h.db.query<{ status: string; sent_at: Date | null }>(
      'SELECT status, sent_at FROM messages WHERE contact_id = $1 AND flow_id = $2',
      [contactId, flowId],
    )
  ).rows[0];

// Smart sending (one marketing email per 16 h, any priority) would hide what the cap does: off.
const promotion = (list: string, extra: Partial<CampaignInput> = {}): CampaignInput => ({
  name: 'Promotion',
  message: { type: 'email', subject: 'Summer selection', html: '<p>Summer</p>' },
  audience: { lists: [list] },
  smartSending: { enabled: false, hours: 16 },
  ...extra,
});

// The API resolves a one-off moment schedule by the server's clock (the harness gives it), which
// starts at the test "today" (test/helpers/today.ts).
// Issue 16: a moment campaign scheduled on its send day, at 15:20 UTC for 15:29, went out a
// year later, because 15:29 had passed at UTC+14. The send day is today by the server's clock:
// the hour is ten minutes ahead in UTC (and hours ahead in New York), hours past in Tokyo.
describe('a calendar-moment campaign scheduled on its send day', () => {
  const zoneOf = { utc: 'UTC', ny: 'America/New_York', tokyo: 'Asia/Tokyo' } as const;
  const instant = (date: string, time: string, zone: string) =>
    DateTime.fromISO(`${date}T${time}`, { zone }).toMillis();
  const iso = (ms: number) => new Date(ms).toISOString();
  let today: string;
  let time: string;
  let offsetDays: number;
  /** The send date of the following occurrence (next year's Noël plus the offset). */
  let following: string;

  // Each test's send day and hour: ten minutes after the server's clock at its start.
  beforeEach(async () => {
    const soon = DateTime.fromMillis((await h.env.currentTimeMs()) + 10 * 60_000, { zone: 'utc' });
    today = soon.toISODate()!;
    time = soon.toFormat('HH:mm');
    const noel = momentDate('noel', soon.year)!;
    offsetDays = Math.round(DateTime.fromISO(today).diff(DateTime.fromISO(noel), 'days').days);
    following = DateTime.fromISO(momentDate('noel', soon.year + 1)!)
      .plus({ days: offsetDays })
      .toISODate()!;
  });

  async function zoned(prefix: string) {
    const ids = Object.keys(zoneOf).map((z) => `${prefix}-${z}`);
    for (const [z, zone] of Object.entries(zoneOf))
      await h.identify(`${prefix}-${z}`, { email: `${prefix}-${z}@example.com`, timezone: zone });
    await createList(`${prefix}-list`, ids);
  }
  const windowOf = async (id: string) => (await h.http('get', `/v1/campaigns/${id}`)).body.sendWindow;

  test('contacts whose hour is still ahead get it today; the window says when, zone by zone, before it starts', async () => {
    await zoned('day');
    const schedule = { type: 'moment' as const, moment: 'noel', offsetDays, at: time };
    await putCampaign('noel-day', promotion('day-list', { schedule }));
    const expected = {
      date: today,
      time,
      earliest: iso(instant(today, time, 'UTC')),
      // The run's last send: Tokyo's contact, at next year's occurrence.
      latest: iso(instant(following, time, zoneOf.tokyo)),
      zones: [
        { zone: 'UTC', contacts: 1, sendAt: iso(instant(today, time, 'UTC')) },
        { zone: zoneOf.ny, contacts: 1, sendAt: iso(instant(today, time, zoneOf.ny)) },
        { zone: zoneOf.tokyo, contacts: 1, sendAt: iso(instant(following, time, zoneOf.tokyo)) },
      ],
      frozen: false,
    };
    expect(await windowOf('noel-day')).toEqual(expected);
    expect((await h.http('post', '/v1/campaigns/noel-day/schedule')).body).toEqual({
      id: 'noel-day',
      status: 'scheduled',
    });
    // Its start (15:29 at UTC+14) is past: the audience freezes at once, with the same window.
    await waitFor(async () => (await windowOf('noel-day'))?.frozen === true, 'the frozen audience');
    expect(await windowOf('noel-day')).toEqual({ ...expected, frozen: true });
    const nyAt = instant(today, time, zoneOf.ny);
    await h.env.sleep(nyAt + 60_000 - (await h.env.currentTimeMs()));
    await waitFor(async () => (await messagesOf('noel-day')).length === 2, 'the UTC and New York sends');
    // Sent at the hour (the send takes a few milliseconds of workflow time).
    const minute = (ms?: number) => Math.floor((ms ?? 0) / 60_000) * 60_000;
    expect((await messagesOf('noel-day')).map((m) => [m.contact_id, m.status, minute(m.sent_at?.getTime())])).toEqual([
      ['day-ny', 'sent', nyAt],
      ['day-utc', 'sent', instant(today, time, 'UTC')],
    ]);
    // Tokyo's contact waits for next year's occurrence: nothing now.
    expect(
      deliveries('noel-day')
        .map((d) => d.to)
        .sort(),
    ).toEqual(['day-ny@example.com', 'day-utc@example.com']);
    expect((await h.http('post', '/v1/campaigns/noel-day/cancel')).status).toBe(202);
    await waitFor(
      async () => (await h.http('get', '/v1/campaigns/noel-day')).body.status === 'cancelled' && true,
      'run cancelled',
    );
    expect((await messagesOf('noel-day')).map((m) => m.contact_id)).toEqual(['day-ny', 'day-utc']);
    await recordHistory('moment-on-the-day', campaignWorkflowId('noel-day'));
  }, 60_000);

  test('yearly: this run sends where the hour is ahead; the next run is next year', async () => {
    await zoned('yearly');
    const schedule = { type: 'moment' as const, moment: 'noel', offsetDays, at: time, yearly: true };
    await putCampaign('noel-yearly', promotion('yearly-list', { schedule }));
    const window = await windowOf('noel-yearly');
    expect(window.zones).toContainEqual({
      zone: zoneOf.tokyo,
      contacts: 1,
      sendAt: iso(instant(following, time, zoneOf.tokyo)),
      nextRun: true,
    });
    expect(window.latest).toBe(iso(instant(today, time, zoneOf.ny)));
    expect((await h.http('post', '/v1/campaigns/noel-yearly/schedule')).status).toBe(202);
    const scheduler = h.env.client.workflow.getHandle('campaign-schedule:noel-yearly');
    const nyAt = instant(today, time, zoneOf.ny);
    await waitFor(async () => (await h.http('get', '/v1/campaigns/noel-yearly')).body.runs.length === 1, 'the run');
    await h.env.sleep(nyAt + 60_000 - (await h.env.currentTimeMs()));
    const nextStart = iso(instant(following, time, 'UTC+14'));
    await waitFor(
      async () => (await scheduler.query(campaignProgressQuery).catch(() => undefined))?.nextAt === nextStart,
      `the next run at ${nextStart}`,
    );
    expect((await messagesOf('noel-yearly')).map((m) => [m.contact_id, m.status])).toEqual([
      ['yearly-ny', 'sent'],
      ['yearly-utc', 'sent'],
    ]);
    expect((await h.http('post', '/v1/campaigns/noel-yearly/cancel')).status).toBe(202);
    await waitFor(
      async () => (await h.http('get', '/v1/campaigns/noel-yearly')).body.status === 'cancelled' && true,
      'schedule cancelled',
    );
    await recordHistory('moment-yearly-on-the-day', 'campaign-schedule:noel-yearly');
  }, 60_000);
});

describe('schedules relative to a calendar moment', () => {
  const at = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' }).toMillis();
  const localNine = (date: string, zone: string) => DateTime.fromISO(`${date}T09:00`, { zone }).toMillis();
  const zones = ['Europe/Paris', 'America/New_York'];
  const localSends = async (campaignId: string) =>
    (await messagesOf(campaignId)).map((m) => [
      m.contact_id,
      m.status,
      DateTime.fromJSDate(m.sent_at!, { zone: zones[Number(m.contact_id.slice(-3)) % 2] }).toFormat('yyyy-MM-dd HH:mm'),
    ]);
  async function zonedContacts(list: string, prefix: string) {
    const ids = zones.map((_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
    for (const [i, id] of ids.entries()) await h.identify(id, { email: `${id}@example.com`, timezone: zones[i] });
    await createList(list, ids);
    return ids;
  }

  test('resolution per zone: three days before Black Friday 2026 is 24 November 2026 at 09:00 local, while that hour is ahead in some zone', () => {
    const schedule = { moment: 'black-friday', offsetDays: -3, at: '09:00' };
    expect(momentOccurrence(schedule, at('2026-11-01T00:00'))).toEqual({
      moment: '2026-11-27',
      local: { date: '2026-11-24', time: '09:00' },
      startAt: localNine('2026-11-24', 'UTC+14'),
      endAt: localNine('2026-11-24', 'UTC-12'),
    });
    // 09:00 on 24 November is 19:00 UTC on the 23rd at UTC+14, 21:00 UTC on the 24th at UTC-12:
    // between the two it is still 2026's, and the zones past the hour get 2027's.
    expect(momentOccurrence(schedule, at('2026-11-23T18:59'))?.local).toEqual({ date: '2026-11-24', time: '09:00' });
    expect(momentOccurrence(schedule, at('2026-11-24T12:00'))?.local).toEqual({
      date: '2026-11-24',
      time: '09:00',
      passed: { date: '2027-11-23', before: at('2026-11-24T12:00'), thisRun: true },
    });
    expect(momentOccurrence(schedule, at('2026-11-24T21:00'))?.local.date).toBe('2027-11-23');
    // The former rule (schedules already running): next year's once the hour began at UTC+14.
    expect(momentOccurrence(schedule, at('2026-11-23T19:00'), { earliestZone: true })).toEqual({
      moment: '2027-11-26',
      local: { date: '2027-11-23', time: '09:00' },
      startAt: localNine('2027-11-23', 'UTC+14'),
    });
    // A yearly schedule's next run comes after the moment it last ran.
    expect(momentOccurrence(schedule, at('2026-11-24T12:00'), { since: '2026-11-27' })?.local.date).toBe('2027-11-23');
    expect(momentOccurrence(schedule, at('2026-11-30T12:00'))?.local.date).toBe('2027-11-23');
    // Fête des mères 2027 is 30 May (the last Sunday of May is not Pentecost that year).
    expect(
      momentOccurrence({ moment: 'fete-des-meres', offsetDays: -3, at: '09:00' }, at('2026-11-30T12:00'))?.local,
    ).toEqual({ date: '2027-05-27', time: '09:00' });
    // A positive offset: the day after Noël 2026.
    expect(momentOccurrence({ moment: 'noel', offsetDays: 1, at: '10:30' }, at('2026-11-30T12:00'))?.local).toEqual({
      date: '2026-12-26',
      time: '10:30',
    });
  });

  test("three days before the next fête des mères, at 09:00 in each contact's zone", async () => {
    await zonedContacts('fdm-list', 'fdm');
    const schedule = { moment: 'fete-des-meres', offsetDays: -3, at: '09:00' };
    await putCampaign('fdm', promotion('fdm-list', { schedule: { type: 'moment', ...schedule } }));
    // Resolved by the server's clock at the test "today": this year's, or next year's once past.
    const next = momentOccurrence(schedule, await h.env.currentTimeMs())!;
    expect(next.moment).toBe(momentDate('fete-des-meres', Number(next.moment.slice(0, 4))));
    expect(next.local.date).toBe(DateTime.fromISO(next.moment).minus({ days: 3 }).toISODate());
    expect((await h.http('post', '/v1/campaigns/fdm/schedule')).body).toEqual({ id: 'fdm', status: 'scheduled' });
    const startAt = new Date(next.startAt).toISOString();
    await waitFor(
      async () =>
        (
          await run('fdm')
            .query(campaignProgressQuery)
            .catch(() => undefined)
        )?.nextAt === startAt,
      `the timer for ${startAt}`,
    );
    expect(await run('fdm').result()).toMatchObject({ status: 'completed', recipients: 2, sent: 2 });
    await recordHistory('moment', campaignWorkflowId('fdm'));
    expect(await localSends('fdm')).toEqual([
      ['fdm-000', 'sent', `${next.local.date} 09:00`],
      ['fdm-001', 'sent', `${next.local.date} 09:00`],
    ]);
  }, 60_000);

  test("yearly, three days before Black Friday: the next one at 09:00 local in each zone, then the next year's", async () => {
    await zonedContacts('bf-list', 'bf');
    const schedule = { type: 'moment' as const, moment: 'black-friday', offsetDays: -3, at: '09:00', yearly: true };
    await putCampaign('bf', promotion('bf-list', { schedule }));
    // Awaiting the previous test's result let the time-skipping server run months ahead: the next
    // Black Friday is the one after the server's clock.
    const now = await h.env.currentTimeMs();
    const first = momentOccurrence(schedule, now)!;
    const year = Number(first.moment.slice(0, 4));
    expect(first.moment).toBe(momentDate('black-friday', year));
    expect(DateTime.fromISO(first.local.date).toFormat('cccc MM')).toBe('Tuesday 11');
    expect(first.startAt).toBeGreaterThan(now);
    expect(first.startAt - now).toBeLessThan(366 * DAY);

    expect((await h.http('post', '/v1/campaigns/bf/schedule')).body).toEqual({ id: 'bf', status: 'scheduled' });
    const scheduler = h.env.client.workflow.getHandle('campaign-schedule:bf');
    let seen: unknown;
    const armedFor = (startAt: number) =>
      waitFor(
        async () =>
          (seen = await scheduler.query(campaignProgressQuery).catch((e: Error) => e.message)) &&
          (seen as { nextAt?: string }).nextAt === new Date(startAt).toISOString(),
        `the timer for ${new Date(startAt).toISOString()}`,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; query: ${JSON.stringify(seen)}`);
      });
    await armedFor(first.startAt);
    // Skip to 09:00 in New York, the later zone: both are sent.
    await h.env.sleep(localNine(first.local.date, 'America/New_York') - (await h.env.currentTimeMs()) + 1_000);
    const runId = `bf@${new Date(first.startAt).toISOString()}`;
    await waitFor(
      async () =>
        ((await h.http('get', '/v1/campaigns/bf')).body.runs as { runId: string; status: string }[]).find(
          (r) => r.runId === runId && r.status === 'completed',
        ),
      `occurrence ${runId}`,
    );
    expect(await localSends('bf')).toEqual([
      ['bf-000', 'sent', `${first.local.date} 09:00`],
      ['bf-001', 'sent', `${first.local.date} 09:00`],
    ]);
    // Then the next year's Black Friday, three days before.
    const nextFriday = momentDate('black-friday', year + 1)!;
    await armedFor(localNine(DateTime.fromISO(nextFriday).minus({ days: 3 }).toISODate()!, 'UTC+14'));
    expect((await h.http('post', '/v1/campaigns/bf/cancel')).status).toBe(202);
    await waitFor(
      async () => (await h.http('get', '/v1/campaigns/bf')).body.status === 'cancelled' && true,
      'schedule cancelled',
    );
    await recordHistory('moment-yearly-cancelled', 'campaign-schedule:bf');
  }, 60_000);

  test('an unknown moment is a 400 naming the field', async () => {
    const bad = await h
      .http('put', '/v1/campaigns/bad-moment')
      .send(promotion('fdm-list', { schedule: { type: 'moment', moment: 'fete-du-slip', at: '09:00' } }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: unknown[] }) => i.path.join('.'))).toEqual(['schedule.moment']);
  });
});

describe('frequency cap: a capped promotion giving way to an abandoned-cart reminder', () => {
  beforeAll(async () => {
    const cart: FlowInput = {
      name: 'Abandoned cart',
      status: 'live',
      trigger: { event: 'Checkout Started' },
      priority: 80,
      smartSending: { enabled: false, hours: 16 },
      quietHours: { email: null, sms: null, push: null },
      steps: [
        { id: 'wait-1h', type: 'delay', duration: '1 hour' },
        { id: 'reminder', type: 'email', subject: 'Your cart is waiting', html: '<p>Cart</p>' },
      ],
    };
    await h.putFlow('cart', cart);
  });

  /** The abandoned-cart reminder, an hour after checkout (waiting for the message, not the journey's end). */
  const cartReminder = async (contactId: string) => {
    await h.track({ userId: contactId, event: 'Checkout Started' });
    await h.env.sleep(HOUR);
    return waitFor(
      async () =>
        (await flowMessage(contactId, 'cart'))?.status === 'sent' ? flowMessage(contactId, 'cart') : undefined,
      `the reminder to ${contactId}`,
    );
  };

  test('skip: the promotion skips the contact who got the reminder and sends to the others; the reminder still goes after the promotion', async () => {
    const [reminded, other, later] = await contactsOnList('cap-list', 'cap', 3);
    await cartReminder(reminded);

    await putCampaign('cap-promo', promotion('cap-list'));
    expect((await h.http('post', '/v1/campaigns/cap-promo/send')).status).toBe(202);
    expect(await run('cap-promo').result()).toMatchObject({ status: 'completed', recipients: 3, sent: 2, skipped: 1 });
    expect(
      deliveries('cap-promo')
        .map((d) => d.to)
        .sort(),
    ).toEqual([`${other}@example.com`, `${later}@example.com`]);
    expect((await messagesOf('cap-promo')).find((m) => m.contact_id === reminded)).toMatchObject({
      status: 'skipped',
      reason: 'frequency cap: 1 marketing email message in the last 24 h (email cap 1)',
    });

    // The promotion went first to `later`: the reminder (priority 80) is not blocked by it.
    await cartReminder(later);
    expect(
      deliveriesOf(h.sendgrid)
        .filter((d) => d.to === `${later}@example.com`)
        .map((d) => d.subject),
    ).toEqual(['Summer selection', 'Your cart is waiting']);
  }, 60_000);

  test('wait: the capped contact gets the promotion when the reminder leaves the 24-hour window; the others at once', async () => {
    const [reminded, other] = await contactsOnList('wait-list', 'wait', 2);
    const reminder = await cartReminder(reminded);

    await putCampaign('wait-promo', promotion('wait-list', { whenCapped: 'wait' }));
    expect((await h.http('post', '/v1/campaigns/wait-promo/send')).status).toBe(202);
    const result = (await run('wait-promo').result()) as CampaignProgress;
    expect(result).toMatchObject({ status: 'completed', recipients: 2, sent: 2, skipped: 0, deferred: 1 });
    const sent = await messagesOf('wait-promo');
    expect(sent.map((m) => [m.contact_id, m.status])).toEqual([
      [reminded, 'sent'],
      [other, 'sent'],
    ]);
    const remindedAt = sent[0].sent_at!.getTime();
    const windowEnd = reminder!.sent_at!.getTime() + DAY;
    // At the end of the window (the run's timer fires on the second), a day after the other contact's.
    expect(remindedAt).toBeGreaterThanOrEqual(windowEnd);
    expect(remindedAt - windowEnd).toBeLessThan(5_000);
    expect(sent[1].sent_at!.getTime()).toBeLessThan(windowEnd - HOUR);
    expect(deliveries('wait-promo').map((d) => d.to)).toEqual([`${other}@example.com`, `${reminded}@example.com`]);
  }, 60_000);
});

test("a holdout's lift: the control share receives nothing; stats compare conversions and revenue per contact", async () => {
  const ids = await contactsOnList('ho-list', 'ho', 40);
  const share = 0.3;
  const control = ids.filter((id) => isHeldOut(campaignHoldoutKey('ho-promo'), id, share));
  const treated = ids.filter((id) => !control.includes(id));
  expect(control.length).toBeGreaterThan(3);
  expect(treated.length).toBeGreaterThan(3);

  await putCampaign('ho-promo', promotion('ho-list', { holdout: { share } }));
  expect((await h.http('post', '/v1/campaigns/ho-promo/send')).status).toBe(202);
  expect(await run('ho-promo').result()).toMatchObject({
    status: 'completed',
    recipients: 40,
    sent: treated.length,
    skipped: 0,
  });
  // Control recipients got nothing, not even a skipped message row.
  expect(
    deliveries('ho-promo')
      .map((d) => d.to)
      .sort(),
  ).toEqual(treated.map((id) => `${id}@example.com`));
  expect((await messagesOf('ho-promo')).map((m) => m.contact_id)).toEqual(treated);

  // Scripted behaviour: half the treated contacts order (60 each, one of them twice), a quarter
  // of the control contacts (40 each). An order before the send or after the window never counts.
  const sentAt = Math.max(...(await messagesOf('ho-promo')).map((m) => m.sent_at!.getTime()));
  const order = (contactId: string, total: number, at: number, n: number) =>
    h.track({
      userId: contactId,
      event: 'Order Completed',
      properties: { total },
      messageId: `ho-order-${contactId}-${n}`,
      timestamp: new Date(at).toISOString(),
    });
  const totals = (group: string[], buyers: string[], each: number, extra: string | undefined): GroupTotals => {
    const revenue = (id: string) => (buyers.includes(id) ? each * (id === extra ? 2 : 1) : 0);
    return {
      contacts: group.length,
      converters: buyers.length,
      conversions: buyers.length + (extra ? 1 : 0),
      revenue: group.reduce((n, id) => n + revenue(id), 0),
      revenueSquares: group.reduce((n, id) => n + revenue(id) ** 2, 0),
    };
  };
  const treatedBuyers = treated.filter((_, i) => i % 2 === 0);
  const controlBuyers = control.filter((_, i) => i % 4 === 0);
  for (const id of treatedBuyers) await order(id, 60, sentAt + HOUR, 1);
  await order(treatedBuyers[0], 60, sentAt + 2 * HOUR, 2);
  for (const id of controlBuyers) await order(id, 40, sentAt + HOUR, 1);
  await order(treated[1], 500, sentAt - 2 * DAY, 1); // before the send
  await order(control[1], 500, sentAt + 30 * DAY, 1); // after the 7-day window

  const stats = await h.http('get', '/v1/campaigns/ho-promo/stats');
  expect(stats.status).toBe(200);
  const expected = holdoutLift(
    totals(treated, treatedBuyers, 60, treatedBuyers[0]),
    totals(control, controlBuyers, 40, undefined),
  );
  expect(stats.body.holdout).toEqual(expected);
  expect(stats.body.holdout.treated).toMatchObject({
    contacts: treated.length,
    converters: treatedBuyers.length,
    conversions: treatedBuyers.length + 1,
  });
  expect(stats.body.holdout.control).toMatchObject({ contacts: control.length, converters: controlBuyers.length });
  expect(stats.body.holdout.lift.conversionRate.absolute).toBeGreaterThan(0);
  expect(stats.body.holdout.lift.revenuePerContact.ci95).toHaveLength(2);

  // A campaign without a holdout has none in its stats.
  expect((await h.http('get', '/v1/campaigns/cap-promo/stats')).body.holdout).toBeNull();

  // The holdout is validated like a flow's: a share in (0, 1).
  const bad = await h.http('put', '/v1/campaigns/bad-holdout').send(promotion('ho-list', { holdout: { share: 1.5 } }));
  expect(bad.status).toBe(400);
  expect(bad.body.error.issues[0].path).toEqual(['holdout', 'share']);
}, 60_000);
