/**
 * The calendar index on the real Postgres: kept by the database on every contact write, and
 * its SQL reading of dates and names is the TypeScript one (calendar/anniversary.ts,
 * calendar/name-days.ts), checked on generated values.
 */
import fc from 'fast-check';
import { monthDayOf } from '../calendar/anniversary';
import { nameKey } from '../calendar/name-days';
import {
  contactsNamed,
  contactsOnDays,
  daysWithContacts,
  namesInUse,
  registerCalendarProperty,
  zonesInUse,
} from '../db/contact-dates';
import { upsertContact } from '../db/contacts';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.drop());

const datesOf = async (contactId: string) =>
  (
    await t.db.query<{ property: string; month: number; day: number; year: number | null }>(
      'SELECT property, month, day, year FROM contact_dates WHERE contact_id = $1 ORDER BY property',
      [contactId],
    )
  ).rows;

test('identify keeps the index: set, moved, unchanged, removed; a property registered later is filled for everyone', async () => {
  await upsertContact(t.db, 'early', { renewal_date: '2027-03-01T10:00:00Z' });
  await registerCalendarProperty(t.db, 'birthday');
  await upsertContact(t.db, 'ada', { firstName: 'Élodie', birthday: '1990-12-05', timezone: 'Europe/Paris' });
  // The year is kept (anniversaries start at the first full year); a year-less date has none.
  expect(await datesOf('ada')).toEqual([{ property: 'birthday', month: 12, day: 5, year: 1990 }]);
  await upsertContact(t.db, 'ada', { birthday: '--03-01' });
  expect(await datesOf('ada')).toEqual([{ property: 'birthday', month: 3, day: 1, year: null }]);
  await upsertContact(t.db, 'ada', { last_seen: 'today' });
  expect(await datesOf('ada')).toEqual([{ property: 'birthday', month: 3, day: 1, year: null }]);
  await upsertContact(t.db, 'ada', { birthday: Date.parse('1990-12-05T00:00:00Z') / 1000 });
  expect(await datesOf('ada')).toEqual([{ property: 'birthday', month: 12, day: 5, year: 1990 }]);
  // Same day, another year: the index follows.
  await upsertContact(t.db, 'ada', { birthday: '1991-12-05' });
  expect(await datesOf('ada')).toEqual([{ property: 'birthday', month: 12, day: 5, year: 1991 }]);
  await upsertContact(t.db, 'ada', { birthday: null });
  expect(await datesOf('ada')).toEqual([]);

  expect(await datesOf('early')).toEqual([]);
  await registerCalendarProperty(t.db, 'renewal_date');
  expect(await datesOf('early')).toEqual([{ property: 'renewal_date', month: 3, day: 1, year: 2027 }]);
  expect(await daysWithContacts(t.db, 'renewal_date')).toEqual([{ month: 3, day: 1 }]);
  expect(
    await contactsOnDays(t.db, 'renewal_date', [
      { month: 3, day: 1 },
      { month: 12, day: 5 },
    ]),
  ).toEqual([{ contactId: 'early', month: 3, day: 1, year: 2027, zone: null }]);
});

test('computed order dates are indexed from the contact stats, on their UTC day, and a trait write leaves them', async () => {
  await upsertContact(t.db, 'buyer', { email: 'b@example.com' });
  // 23:30 UTC on 7 December: the UTC day is the 7th (the rule for instants).
  await t.db.query(
    "INSERT INTO contact_stats (contact_id, order_count, first_order_at, last_order_at) VALUES ('buyer', 1, $1, $1)",
    ['2026-12-07T23:30:00Z'],
  );
  expect(await datesOf('buyer')).toEqual([]);
  await registerCalendarProperty(t.db, 'computed.firstOrderAt');
  expect(await datesOf('buyer')).toEqual([{ property: 'computed.firstOrderAt', month: 12, day: 7, year: 2026 }]);
  await registerCalendarProperty(t.db, 'computed.lastOrderAt');
  await t.db.query("UPDATE contact_stats SET order_count = 2, last_order_at = $1 WHERE contact_id = 'buyer'", [
    '2027-01-15T08:00:00Z',
  ]);
  const both = [
    { property: 'computed.firstOrderAt', month: 12, day: 7, year: 2026 },
    { property: 'computed.lastOrderAt', month: 1, day: 15, year: 2027 },
  ];
  expect(await datesOf('buyer')).toEqual(both);
  await upsertContact(t.db, 'buyer', { firstName: 'Bea', timezone: 'Europe/Paris' });
  expect(await datesOf('buyer')).toEqual(both);
});

test('first names and zones: accents and case removed; a merged-away id leaves the index', async () => {
  await upsertContact(t.db, 'stef', { firstName: 'STÉPHANE', timezone: 'America/New_York' });
  await upsertContact(t.db, 'jp', { first_name: 'Jean Pierre' });
  expect(await contactsNamed(t.db, ['stephane', 'jean'])).toEqual([
    { contactId: 'jp', firstName: 'jean-pierre', zone: null },
    { contactId: 'stef', firstName: 'stephane', zone: 'America/New_York' },
  ]);
  expect(await namesInUse(t.db, ['stephane', 'jean', 'pierre', 'elodie'])).toEqual(['stephane', 'jean', 'elodie']);
  expect(await zonesInUse(t.db)).toEqual(['America/New_York', 'Europe/Paris']);
  await upsertContact(t.db, 'merged', { firstName: 'Stéphane', birthday: '2000-02-29' });
  await t.db.query("UPDATE contacts SET merged_into = 'stef' WHERE id = 'merged'");
  expect(await contactsNamed(t.db, ['stephane'])).toEqual([
    { contactId: 'stef', firstName: 'stephane', zone: 'America/New_York' },
  ]);
  expect(await datesOf('merged')).toEqual([]);
});

test('SQL and TypeScript read the same day from any value, and the same name key', async () => {
  const value = fc.oneof(
    fc
      .date({ min: new Date('1900-01-01'), max: new Date('2100-12-31'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    fc
      .date({ min: new Date('1900-01-01'), max: new Date('2100-12-31'), noInvalidDate: true })
      .map((d) => d.toISOString().slice(0, 10)),
    fc
      .date({ min: new Date('1971-01-01'), max: new Date('2100-12-31'), noInvalidDate: true })
      .map((d) => Math.floor(d.getTime() / 1000)),
    fc.date({ min: new Date('1974-01-01'), max: new Date('2100-12-31'), noInvalidDate: true }).map((d) => d.getTime()),
    fc
      .tuple(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.boolean())
      .map(([m, d, dashes]) => `${dashes ? '--' : ''}${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`),
    fc.string({ maxLength: 12 }),
  );
  const values = fc.sample(value, { numRuns: 400, seed: 17 });
  const { rows } = await t.db.query<{ md: number[] | null; year: number | null }>(
    `SELECT calendar_month_day(v) AS md, calendar_year(v) AS year
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(v, n) ORDER BY n`,
    [JSON.stringify(values)],
  );
  const sql = rows.map((r) => (r.md ? [...r.md, r.year] : null));
  const ts = values.map((v) => {
    const md = monthDayOf(v);
    return md ? [md.month, md.day, md.year ?? null] : null;
  });
  expect(sql).toEqual(ts);

  const names = [
    'Stéphane',
    'ÉLODIE',
    'Zoé',
    'jean  pierre',
    'Anaïs',
    'Gaëlle',
    'François',
    'Noël',
    'Hélène-Marie',
    'Ñico',
  ];
  const keys = (
    await t.db.query<{ k: string }>(
      'SELECT calendar_name_key(n) AS k FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i) ORDER BY i',
      [names],
    )
  ).rows.map((r) => r.k);
  expect(keys).toEqual(names.map(nameKey));
});
