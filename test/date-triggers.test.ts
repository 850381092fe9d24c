/**
 * Date triggers end to end, on the time-skipping server (which starts at the real now,
 * 2026-11-30 when this was written) with real Postgres and the real SendGrid client: the
 * calendar clock wakes at each entry's instant, stores one `Calendar Date Reached` event per
 * contact, flow and day, and the router starts the flow. The tests run in calendar order on
 * one clock: 5 December (birthdays), 26 December (Stéphane's name day), 28 February 2027 (a
 * 29 February birthday), 27 May 2027 (3 days before la fête des mères, 30 May 2027), 23 November
 * 2027 (3 days before Black Friday: Black Friday 2026, 27 November, was three days before the
 * server's start, so its occurrence three days before is past and the next one is 2027's),
 * then 5 December 2027 (every year again, once).
 *
 * `RECORD_HISTORIES=1 npx jest test/date-triggers.test.ts` records the clock's history to
 * test/histories/calendar-clock/ (replayed by test/calendar-replay.test.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DateTime } from 'luxon';
import { CALENDAR_DATE_REACHED } from '../calendar/date-triggers';
import { momentDate } from '../calendar/moments';
import { ensureCalendarClock } from '../worker/calendar-clock';
import { CALENDAR_CLOCK_WORKFLOW_ID } from '../workflows/calendar-clock';
import { Harness } from './helpers/harness';
import { waitFor } from './helpers/fake-http';

let h: Harness;
const PARIS = 'Europe/Paris';
const NEW_YORK = 'America/New_York';

beforeAll(async () => {
  h = await Harness.start();
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
    firstName: 'Stéphane',
    birthday: '1990-12-05',
    timezone: PARIS,
    country: 'FR',
  });
  await h.identify('ny', {
    email: 'ny@example.com',
    firstName: 'Jean-Pierre',
    birthday: Date.parse('1985-12-05T00:00:00Z') / 1000,
    timezone: NEW_YORK,
    country: 'US',
  });
  await h.identify('leap', {
    email: 'leap@example.com',
    firstName: 'Zoé',
    birthday: '2000-02-29',
    timezone: PARIS,
    country: 'FR',
  });
  // A maximum sleep longer than the tests' jumps: the clock wakes only at entries' instants.
  await ensureCalendarClock(h.env.client.workflow, { maxSleepMs: 400 * 86_400_000, lookMs: 400 * 86_400_000 });
}, 120_000);

afterAll(() => h?.stop());

const sleepUntil = async (iso: string) => {
  const ms = Date.parse(iso) - (await h.env.currentTimeMs());
  if (ms > 0) await h.env.sleep(ms);
};
const mails = (to: string, subject: RegExp) => h.sendgrid.emails.filter((e) => e.to === to && subject.test(e.subject));
const entries = async (flowId: string, contactId: string) => {
  const { rows } = await h.db.query<{ occurred_at: Date; properties: { date: string } }>(
    "SELECT occurred_at, properties FROM events WHERE name = $1 AND contact_id = $2 AND properties->>'flow_id' = $3 ORDER BY id",
    [CALENDAR_DATE_REACHED, contactId, flowId],
  );
  return rows.map((r) => ({ at: r.occurred_at.toISOString(), date: r.properties.date }));
};
const utc = (local: string, zone: string) => DateTime.fromISO(local, { zone }).toUTC().toISO();

test('the server starts before the first birthday of the tests', async () => {
  expect(new Date(await h.env.currentTimeMs()).toISOString() < '2026-12-05').toBe(true);
});

test("delay_until yearly waits for this year's birthday, not the 1990 date (which fired at once)", async () => {
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
  expect(state).toBe(utc('2026-12-05T10:00', PARIS));
  expect(mails('paris@example.com', /Birthday wait/)).toHaveLength(0);
});

test('a birthday flow fires at 09:00 local on the day, in Paris and in New York', async () => {
  await sleepUntil(utc('2026-12-05T08:58', PARIS)!);
  expect(mails('paris@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(utc('2026-12-05T09:01', PARIS)!);
  const [wish] = await waitFor(
    () => mails('paris@example.com', /anniversaire/).length > 0 && mails('paris@example.com', /anniversaire/),
    'the Paris birthday email',
    30_000,
  );
  expect(wish.subject).toBe('Joyeux anniversaire Stéphane');
  expect(await entries('birthday', 'paris')).toEqual([{ at: utc('2026-12-05T09:00', PARIS), date: '2026-12-05' }]);
  // 09:00 in New York is six hours later: nothing yet for the birthday given in Unix seconds.
  expect(mails('ny@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(utc('2026-12-05T08:58', NEW_YORK)!);
  expect(mails('ny@example.com', /anniversaire/)).toHaveLength(0);
  await sleepUntil(utc('2026-12-05T09:01', NEW_YORK)!);
  await waitFor(() => mails('ny@example.com', /anniversaire/).length === 1, 'the New York birthday email', 30_000);
  expect(await entries('birthday', 'ny')).toEqual([{ at: utc('2026-12-05T09:00', NEW_YORK), date: '2026-12-05' }]);
}, 120_000);

test('a name-day flow wishes Stéphane on 26 December at 09:00, and not Jean-Pierre (24 June)', async () => {
  await sleepUntil(utc('2026-12-26T09:01', PARIS)!);
  await waitFor(() => mails('paris@example.com', /Bonne fête/).length === 1, 'the name-day email', 30_000);
  expect(mails('paris@example.com', /Bonne fête/)[0].subject).toBe('Bonne fête Stéphane');
  expect(await entries('name-day', 'paris')).toEqual([{ at: utc('2026-12-26T09:00', PARIS), date: '2026-12-26' }]);
  expect(await entries('name-day', 'ny')).toEqual([]);
}, 120_000);

test('a 29 February birthday is wished on 28 February 2027', async () => {
  await sleepUntil(utc('2027-02-28T09:01', PARIS)!);
  await waitFor(() => mails('leap@example.com', /anniversaire/).length === 1, 'the leap-day birthday email', 30_000);
  expect(await entries('birthday', 'leap')).toEqual([{ at: utc('2027-02-28T09:00', PARIS), date: '2027-02-28' }]);
}, 120_000);

test('3 days before la fête des mères 2027 (30 May) at 09:00 local, for the contacts the trigger condition admits', async () => {
  expect(momentDate('fete-des-meres', 2027)).toBe('2027-05-30');
  await sleepUntil(utc('2027-05-27T08:58', PARIS)!);
  expect(mails('paris@example.com', /Fête des mères/)).toHaveLength(0);
  await sleepUntil(utc('2027-05-27T09:01', NEW_YORK)!);
  await waitFor(
    () =>
      mails('paris@example.com', /Fête des mères/).length === 1 &&
      mails('leap@example.com', /Fête des mères/).length === 1,
    'the fête des mères emails',
    30_000,
  );
  expect(mails('paris@example.com', /Fête des mères/)[0].subject).toBe('Fête des mères: 2027-05-30');
  expect(await entries('meres', 'paris')).toEqual([{ at: utc('2027-05-27T09:00', PARIS), date: '2027-05-30' }]);
  // New York's contact was offered the entry at 09:00 there, and the condition (country FR) kept it out.
  expect(await entries('meres', 'ny')).toEqual([{ at: utc('2027-05-27T09:00', NEW_YORK), date: '2027-05-30' }]);
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

test('3 days before Black Friday: 2026 was past at the start, so 23 November 2027 (Black Friday 2027 is the 26th)', async () => {
  expect(momentDate('black-friday', 2026)).toBe('2026-11-27');
  expect(await entries('black-friday', 'paris')).toEqual([]);
  await sleepUntil(utc('2027-11-23T09:01', NEW_YORK)!);
  await waitFor(
    () => ['paris', 'ny', 'leap'].every((c) => mails(`${c}@example.com`, /Black Friday/).length === 1),
    'the Black Friday emails',
    30_000,
  );
  expect(await entries('black-friday', 'paris')).toEqual([{ at: utc('2027-11-23T09:00', PARIS), date: '2027-11-26' }]);
  expect(await entries('black-friday', 'ny')).toEqual([{ at: utc('2027-11-23T09:00', NEW_YORK), date: '2027-11-26' }]);
}, 120_000);

test('every year again: the 2027 birthday enters once more, once', async () => {
  await sleepUntil(utc('2027-12-05T09:01', PARIS)!);
  await waitFor(() => mails('paris@example.com', /anniversaire/).length === 2, 'the second birthday email', 30_000);
  // Waking the clock again (a worker restart) stores and sends nothing twice.
  await ensureCalendarClock(h.env.client.workflow);
  await new Promise((r) => setTimeout(r, 2_000));
  expect(mails('paris@example.com', /anniversaire/)).toHaveLength(2);
  expect((await entries('birthday', 'paris')).map((e) => e.date)).toEqual(['2026-12-05', '2027-12-05']);
  expect(mails('paris@example.com', /Birthday wait/)).toHaveLength(1);

  if (process.env.RECORD_HISTORIES === '1') {
    const dir = path.join(__dirname, 'histories', 'calendar-clock');
    mkdirSync(dir, { recursive: true });
    const clock = h.env.client.workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
    writeFileSync(path.join(dir, 'a-year-of-dates.json'), `${historyToJSON(await clock.fetchHistory())}\n`);
  }
}, 120_000);
