/**
 * Date triggers end to end, on the time-skipping server with real Postgres and the real
 * SendGrid client: the calendar clock wakes at each entry's instant, stores one `Calendar Date
 * Reached` event per contact, flow and day, and the router starts the flow.
 *
 * No date is written here: the server starts at the test "today" (test/helpers/today.ts:
 * `PARCOURS_TEST_TODAY`, else the real clock) and every date derives from its clock at start.
 * The first birthday is the first day whose 08:58 in Paris is half an hour or more ahead (so
 * today when the suite starts at 00:00 UTC, as `npm run test:dates` does); Paris's contact is
 * named after a name wished that day or soon after; the 29 February contact (Auguste, whose
 * name day is 29 February too) is wished on the next 28 or 29 February; the moments are the
 * next ones whose firing (3 days before, 09:00 local) is after the start, in each zone. The
 * tests then skip the clock forward, in that order, and a year on for the birthday again.
 *
 * `RECORD_HISTORIES=1 npx jest test/date-triggers.test.ts` records the clock's history to
 * test/histories/calendar-clock/ (replayed by test/calendar-replay.test.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DateTime } from 'luxon';
import { addDays, anniversaryIn, localInstant } from '../calendar/anniversary';
import { CALENDAR_DATE_REACHED, isNameDayOn, namesWishedOn } from '../flows/date-triggers';
import { momentDate } from '../calendar/moments';
import { ensureCalendarClock } from '../worker/calendar-clock';
import { CALENDAR_CLOCK_WORKFLOW_ID } from '../workflows/calendar-clock';
import { Harness } from './helpers/harness';
import { waitFor } from './helpers/fake-http';
import { testToday } from './helpers/today';

let h: Harness;
const PARIS = 'Europe/Paris';
const NEW_YORK = 'America/New_York';
const AUCKLAND = 'Pacific/Auckland';
const MINUTE = 60_000;
const today = testToday();
/** The server's clock when the suite starts (ms): every date below derives from it. */
let start: number;

const parisDay = (ms: number) => DateTime.fromMillis(ms, { zone: PARIS }).toISODate()!;
const iso = (ms: number) => new Date(ms).toISOString();
const capitalised = (key: string) =>
  key.replace(/(^|-)(\p{L})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());

/** The first day on or after `from` that wishes a name, and a name it wishes (as a contact would write it). */
function nameWishedFrom(from: string): { day: string; name: string } {
  for (let day = from; ; day = addDays(day, 1)) {
    const name = namesWishedOn(day)
      .map(capitalised)
      .find((n) => isNameDayOn(n, day));
    if (name) return { day, name };
  }
}

/** The first firing of "3 days before `id`, 09:00" after the start in `zone`, and the moment's date. */
function firstMomentFiring(id: string, zone: string): { date: string; at: number } {
  for (let year = Number(iso(start).slice(0, 4)) - 1; ; year += 1) {
    const date = momentDate(id, year)!;
    const at = localInstant(addDays(date, -3), '09:00', zone);
    if (at > start) return { date, at };
  }
}

/** The first 28/29 February whose 09:00 in Paris is after the start. */
function firstLeapBirthday(): { day: string; at: number } {
  for (let year = Number(iso(start).slice(0, 4)); ; year += 1) {
    const day = anniversaryIn({ month: 2, day: 29 }, year);
    const at = localInstant(day, '09:00', PARIS);
    if (at > start) return { day, at };
  }
}

let birthday: string;
/** The buyer's first order (at the start) and the anniversary flows' hour: ten minutes later, UTC. */
let firstOrder: { day: string; at: string };
let named: { day: string; name: string };
let nyName: string;

beforeAll(async () => {
  h = await Harness.start({ today: true });
  start = await h.env.currentTimeMs();
  birthday = parisDay(start);
  while (localInstant(birthday, '08:58', PARIS) < start + 30 * MINUTE) birthday = addDays(birthday, 1);
  named = nameWishedFrom(birthday);
  // New York's contact is named after a day half a year away: not wished in the name-day test.
  nyName = nameWishedFrom(addDays(birthday, 180)).name;
  const email = (id: string, subject: string) => [
    { id, type: 'email' as const, subject, html: '<p>{{ contact.firstName }}</p>' },
  ];
  const common = { status: 'live' as const, smartSending: { enabled: false } };
  await h.putFlow('birthday', {
    ...common,
    name: 'Birthday',
    trigger: { date: { property: 'birthday', at: '09:00' } },
    steps: email('wish', 'Joyeux anniversaire {{ contact.firstName }}'),
  });
  // 02:30 local: a time that does not exist on the spring DST day and comes twice on the autumn one.
  await h.putFlow('birthday-night', {
    ...common,
    name: 'Birthday at night',
    trigger: { date: { property: 'birthday', at: '02:30' } },
    steps: email('night', 'Night {{ contact.firstName }}'),
  });
  await h.putFlow('name-day', {
    ...common,
    name: 'Name day',
    trigger: { nameDay: { at: '09:00' } },
    steps: email('wish', 'Bonne fête {{ contact.firstName }}'),
  });
  await h.putFlow('meres', {
    ...common,
    name: 'Fête des mères',
    trigger: {
      moment: { id: 'fete-des-meres', offsetDays: -3, at: '09:00' },
      contact: { profile: { property: 'country', op: 'equals', value: 'FR' } },
    },
    steps: email('promo', 'Fête des mères: {{ event.properties.date }}'),
  });
  await h.putFlow('black-friday', {
    ...common,
    name: 'Black Friday',
    trigger: { moment: { id: 'black-friday', offsetDays: -3, at: '09:00' } },
    steps: email('teaser', 'Black Friday {{ event.properties.date }}'),
  });
  await h.identify('paris', {
    email: 'paris@example.com',
    firstName: named.name,
    birthday: `1992-${birthday.slice(5)}`,
    timezone: PARIS,
    country: 'FR',
  });
  await h.identify('ny', {
    email: 'ny@example.com',
    firstName: nyName,
    // Unix seconds of midnight UTC (1984 was a leap year: any day of the year is a date).
    birthday: Date.parse(`1984-${birthday.slice(5)}T00:00:00Z`) / 1000,
    timezone: NEW_YORK,
    country: 'US',
  });
  // Auckland's 09:00 on the day after the birthday is the evening before in UTC (a year end
  // there while it is still 31 December here, when the birthday is 31 December).
  await h.identify('auckland', {
    email: 'auckland@example.com',
    firstName: 'Aroha',
    birthday: `--${addDays(birthday, 1).slice(5)}`,
    timezone: AUCKLAND,
    country: 'NZ',
  });
  // The bug: a first order at 15:08 got "Un an déjà" at 15:12. The anniversaries' hour is ten
  // minutes after the order, on its day; they start at the first full year.
  const tenLater = DateTime.fromMillis(start + 10 * MINUTE, { zone: 'utc' });
  firstOrder = { day: DateTime.fromMillis(start, { zone: 'utc' }).toISODate()!, at: tenLater.toFormat('HH:mm') };
  await h.putFlow('first-order-anniversary', {
    ...common,
    name: 'Un an déjà',
    // A computed date: no update_profile copy of the first order's date into a trait.
    trigger: { date: { property: 'computed.firstOrderAt', at: firstOrder.at } },
    steps: email('year', 'Un an déjà {{ contact.firstName }}'),
  });
  await h.putFlow('signup-anniversary', {
    ...common,
    name: 'Sign-up anniversary',
    trigger: { date: { property: 'signed_up_at', at: firstOrder.at } },
    steps: email('signup', 'Inscrit il y a un an'),
  });
  await h.identify('buyer', {
    email: 'buyer@example.com',
    firstName: 'Bea',
    signed_up_at: iso(start),
    timezone: 'UTC',
    country: 'FR',
  });
  await h.track({ userId: 'buyer', event: 'Order Completed', messageId: 'first-order-buyer', timestamp: iso(start) });
  await h.identify('leap', {
    email: 'leap@example.com',
    firstName: 'Auguste',
    birthday: '2000-02-29',
    timezone: PARIS,
    country: 'FR',
  });
  // A maximum sleep longer than the tests' jumps: the clock wakes only at entries' instants.
  // It covers time from the start on, however long the setup took; it looks for changed contacts no more often.
  await ensureCalendarClock(h.env.client.workflow, {
    maxSleepMs: 400 * 86_400_000,
    lookMs: 400 * 86_400_000,
    coveredUntil: start,
  });
}, 120_000);

afterAll(() => h?.stop());

const sleepUntil = async (ms: number) => {
  const ahead = ms - (await h.env.currentTimeMs());
  if (ahead > 0) await h.env.sleep(ahead);
};
const mails = (to: string, subject: RegExp | string) =>
  h.sendgrid.emails.filter(
    (e) => e.to === to && (typeof subject === 'string' ? e.subject === subject : subject.test(e.subject)),
  );
const entries = async (flowId: string, contactId: string, date?: string) => {
  const { rows } = await h.db.query<{ occurred_at: Date; properties: { date: string } }>(
    "SELECT occurred_at, properties FROM events WHERE name = $1 AND contact_id = $2 AND properties->>'flow_id' = $3 ORDER BY id",
    [CALENDAR_DATE_REACHED, contactId, flowId],
  );
  return rows
    .map((r) => ({ at: r.occurred_at.toISOString(), date: r.properties.date }))
    .filter((e) => date === undefined || e.date === date);
};
const nine = (day: string, zone: string) => iso(localInstant(day, '09:00', zone));

test("the server's clock starts at the test's today", async () => {
  expect(start).toBeGreaterThanOrEqual(today.startMs);
  // The skip lands on the day asked for (the real clock: the suite's own start).
  expect(start - today.startMs).toBeLessThan(10 * MINUTE);
});

test('an unknown computed date is refused, naming the field', async () => {
  const res = await h.http('put', '/v1/flows/bad-computed').send({
    name: 'Bad',
    trigger: { date: { property: 'computed.orderCount' } },
    steps: [{ id: 'm', type: 'email', subject: 's', html: '<p>x</p>' }],
  });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toContain('computed.firstOrderAt');
});

test('first-order and sign-up anniversaries are silent on day 0 (the order and sign-up are today)', async () => {
  const dayZero = localInstant(firstOrder.day, firstOrder.at, 'UTC');
  // The flows read the computed date and the trait once the clock has registered them.
  await waitFor(async () => {
    const { rows } = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM contact_dates WHERE contact_id = 'buyer' AND year IS NOT NULL",
    );
    return rows[0].n === 2;
  }, "the buyer's first order and sign-up dates in the calendar index");
  await sleepUntil(dayZero + 2 * MINUTE);
  // The clock wakes at that instant (some contact's day is today) and must find nothing to enter.
  await new Promise((r) => setTimeout(r, 3_000));
  expect(await entries('first-order-anniversary', 'buyer')).toEqual([]);
  expect(await entries('signup-anniversary', 'buyer')).toEqual([]);
  expect(mails('buyer@example.com', /Un an|Inscrit/)).toEqual([]);
}, 60_000);

test("delay_until yearly waits for this year's birthday, not the 1992 date (which is past)", async () => {
  await h.putFlow('birthday-wait', {
    name: 'Birthday wait',
    status: 'live',
    smartSending: { enabled: false },
    trigger: { event: 'Signed Up' },
    steps: [
      { id: 'until-birthday', type: 'delay_until', date: 'contact.birthday', yearly: true, at: '10:00' },
      { id: 'wish', type: 'email', subject: 'Birthday wait over', html: '<p>hi</p>' },
    ],
  });
  await h.track({ userId: 'paris', event: 'Signed Up', messageId: 'signup-paris' });
  const state = await waitFor(async () => (await h.state('birthday-wait', 'paris')).waitingUntil, 'the wait');
  expect(state).toBe(iso(localInstant(birthday, '10:00', PARIS)));
  expect(mails('paris@example.com', /Birthday wait/)).toHaveLength(0);
});

test('a birthday flow fires at 09:00 local on the day, in Paris and in New York', async () => {
  await sleepUntil(localInstant(birthday, '08:58', PARIS));
  expect(mails('paris@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(localInstant(birthday, '09:01', PARIS));
  const [wish] = await waitFor(
    () => mails('paris@example.com', /anniversaire/).length > 0 && mails('paris@example.com', /anniversaire/),
    'the Paris birthday email',
    30_000,
  );
  expect(wish.subject).toBe(`Joyeux anniversaire ${named.name}`);
  expect(await entries('birthday', 'paris')).toEqual([{ at: nine(birthday, PARIS), date: birthday }]);
  // 09:00 in New York is hours later: nothing yet for the birthday given in Unix seconds.
  expect(mails('ny@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(localInstant(birthday, '08:58', NEW_YORK));
  expect(mails('ny@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(localInstant(birthday, '09:01', NEW_YORK));
  await waitFor(() => mails('ny@example.com', /anniversaire/).length === 1, 'the New York birthday email', 30_000);
  expect(await entries('birthday', 'ny')).toEqual([{ at: nine(birthday, NEW_YORK), date: birthday }]);
  const nextDay = addDays(birthday, 1);
  await sleepUntil(localInstant(nextDay, '09:01', AUCKLAND));
  await waitFor(
    () => mails('auckland@example.com', /anniversaire/).length === 1,
    'the Auckland birthday email',
    30_000,
  );
  expect(await entries('birthday', 'auckland')).toEqual([{ at: nine(nextDay, AUCKLAND), date: nextDay }]);
}, 120_000);

test("a name-day flow wishes Paris's contact on its name day at 09:00, and not New York's (half a year away)", async () => {
  await sleepUntil(localInstant(named.day, '09:01', PARIS));
  await waitFor(() => mails('paris@example.com', /Bonne fête/).length === 1, 'the name-day email', 30_000);
  expect(mails('paris@example.com', /Bonne fête/)[0].subject).toBe(`Bonne fête ${named.name}`);
  expect(await entries('name-day', 'paris')).toEqual([{ at: nine(named.day, PARIS), date: named.day }]);
  expect(await entries('name-day', 'ny')).toEqual([]);
}, 120_000);

test('a 29 February birthday and name day (Auguste) are wished on 28 February outside leap years, once', async () => {
  const leap = firstLeapBirthday();
  await sleepUntil(leap.at + MINUTE);
  await waitFor(
    () => mails('leap@example.com', /anniversaire/).length >= 1 && mails('leap@example.com', /Bonne fête/).length >= 1,
    'the leap-day birthday and name-day emails',
    30_000,
  );
  expect(await entries('birthday', 'leap', leap.day)).toEqual([{ at: iso(leap.at), date: leap.day }]);
  expect(await entries('name-day', 'leap', leap.day)).toEqual([{ at: iso(leap.at), date: leap.day }]);
  expect(mails('leap@example.com', 'Joyeux anniversaire Auguste')).toHaveLength(1);
  expect(mails('leap@example.com', 'Bonne fête Auguste')).toHaveLength(1);
}, 120_000);

test('3 days before la fête des mères at 09:00 local, for the contacts the trigger condition admits', async () => {
  const paris = firstMomentFiring('fete-des-meres', PARIS);
  const ny = firstMomentFiring('fete-des-meres', NEW_YORK);
  const before = paris.at - 2 * MINUTE;
  if (before > (await h.env.currentTimeMs())) {
    await sleepUntil(before);
    expect(mails('paris@example.com', /Fête des mères/)).toHaveLength(0);
  }
  await sleepUntil(Math.max(paris.at, ny.at) + MINUTE);
  const subject = `Fête des mères: ${paris.date}`;
  await waitFor(
    () => mails('paris@example.com', subject).length === 1 && mails('leap@example.com', subject).length === 1,
    'the fête des mères emails',
    30_000,
  );
  expect(await entries('meres', 'paris', paris.date)).toEqual([{ at: iso(paris.at), date: paris.date }]);
  // New York's contact was offered the entry at 09:00 there, and the condition (country FR) kept it out.
  expect(await entries('meres', 'ny', ny.date)).toEqual([{ at: iso(ny.at), date: ny.date }]);
  await waitFor(
    async () =>
      (
        await h.db.query(
          "SELECT 1 FROM journey_entries WHERE flow_id = 'meres' AND contact_id = 'ny' AND outcome = 'refused'",
        )
      ).rowCount === 1,
    'the refused entry',
  );
  expect(mails('ny@example.com', /Fête des mères/)).toHaveLength(0);
}, 120_000);

test('3 days before Black Friday: the next one after the start, at 09:00 local in each zone', async () => {
  const paris = firstMomentFiring('black-friday', PARIS);
  const ny = firstMomentFiring('black-friday', NEW_YORK);
  expect(DateTime.fromISO(paris.date).toFormat('cccc')).toBe('Friday');
  await sleepUntil(Math.max(paris.at, ny.at) + MINUTE);
  await waitFor(
    () =>
      ['paris', 'leap'].every((c) => mails(`${c}@example.com`, `Black Friday ${paris.date}`).length === 1) &&
      mails('ny@example.com', `Black Friday ${ny.date}`).length === 1,
    'the Black Friday emails',
    30_000,
  );
  expect(await entries('black-friday', 'paris', paris.date)).toEqual([{ at: iso(paris.at), date: paris.date }]);
  expect(await entries('black-friday', 'ny', ny.date)).toEqual([{ at: iso(ny.at), date: ny.date }]);
}, 120_000);

test("every year again: next year's birthday enters once more, once", async () => {
  const again = anniversaryIn(
    { month: Number(birthday.slice(5, 7)), day: Number(birthday.slice(8, 10)) },
    Number(birthday.slice(0, 4)) + 1,
  );
  await sleepUntil(localInstant(again, '09:01', PARIS));
  await waitFor(() => mails('paris@example.com', /anniversaire/).length === 2, 'the second birthday email', 30_000);
  // Waking the clock again (a worker restart) stores and sends nothing twice.
  await ensureCalendarClock(h.env.client.workflow);
  await new Promise((r) => setTimeout(r, 2_000));
  expect(mails('paris@example.com', /anniversaire/)).toHaveLength(2);
  expect(await entries('birthday', 'paris')).toEqual([
    { at: nine(birthday, PARIS), date: birthday },
    { at: nine(again, PARIS), date: again },
  ]);
  expect(mails('paris@example.com', /Birthday wait/)).toHaveLength(1);
  // At 02:30 local, once a year in each zone, the DST change days included (a birthday at 02:30
  // before the start waits for the next year).
  for (const [contact, zone] of [
    ['paris', PARIS],
    ['ny', NEW_YORK],
  ]) {
    const expected = [birthday, again]
      .map((date) => ({ at: iso(localInstant(date, '02:30', zone)), date }))
      .filter((e) => Date.parse(e.at) > start);
    expect(await entries('birthday-night', contact)).toEqual(expected);
    expect(mails(`${contact}@example.com`, /^Night /)).toHaveLength(expected.length);
  }

  if (process.env.RECORD_HISTORIES === '1') {
    const dir = path.join(__dirname, 'histories', 'calendar-clock');
    mkdirSync(dir, { recursive: true });
    const clock = h.env.client.workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
    writeFileSync(path.join(dir, 'a-year-of-dates.json'), `${historyToJSON(await clock.fetchHistory())}\n`);
  }
}, 120_000);

test('first-order and sign-up anniversaries fire at one year, once, at their hour', async () => {
  const oneYear = anniversaryIn(
    { month: Number(firstOrder.day.slice(5, 7)), day: Number(firstOrder.day.slice(8, 10)) },
    Number(firstOrder.day.slice(0, 4)) + 1,
  );
  const at = localInstant(oneYear, firstOrder.at, 'UTC');
  await sleepUntil(at + 2 * MINUTE);
  await waitFor(
    () => mails('buyer@example.com', /Un an déjà/).length === 1 && mails('buyer@example.com', /Inscrit/).length === 1,
    'the one-year emails',
    30_000,
  );
  expect(mails('buyer@example.com', /Un an déjà/)[0].subject).toBe('Un an déjà Bea');
  expect(await entries('first-order-anniversary', 'buyer')).toEqual([{ at: iso(at), date: oneYear }]);
  expect(await entries('signup-anniversary', 'buyer')).toEqual([{ at: iso(at), date: oneYear }]);
}, 120_000);
