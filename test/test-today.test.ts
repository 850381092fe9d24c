/**
 * How the date-sensitive suites choose "today" (test/helpers/today.ts) and which awkward days
 * `npm run test:dates` runs them at (scripts/test-dates.ts): pure, from given clocks.
 */
import { DateTime } from 'luxon';
import { awkwardDays } from '../scripts/test-dates';
import { parseTestToday } from './helpers/today';

// A reference clock given to pure functions (never the date the suite runs on): the results hold on any day.
const now = Date.parse('2030-11-10T20:30:00Z');

test('PARCOURS_TEST_TODAY: unset is the real clock; a day is 00:00 UTC, a time may be given; a past day is refused', () => {
  expect(parseTestToday(undefined, now)).toEqual({ startMs: now, fixed: false });
  expect(parseTestToday('', now)).toEqual({ startMs: now, fixed: false });
  expect(parseTestToday('2032-02-29', now)).toEqual({ startMs: Date.parse('2032-02-29T00:00:00Z'), fixed: true });
  expect(parseTestToday('2031-03-30T00:45', now)).toEqual({
    startMs: Date.parse('2031-03-30T00:45:00Z'),
    fixed: true,
  });
  // Today's own date has begun: the suite starts now, on it.
  expect(parseTestToday('2030-11-10', now)).toEqual({ startMs: now, fixed: true });
  expect(() => parseTestToday('2030-11-09', now)).toThrow(/PARCOURS_TEST_TODAY=2030-11-09 is past/);
  for (const bad of ['2031-02-29', '28/02/2031', '2031-02-28T25:00', 'tomorrow'])
    expect(() => parseTestToday(bad, now)).toThrow(/PARCOURS_TEST_TODAY=.*expected YYYY-MM-DD/);
});

test('the awkward days are the next ones to come, DST days computed per zone', () => {
  const days = (iso: string) =>
    Object.fromEntries(awkwardDays(DateTime.fromISO(iso, { zone: 'utc' })).map((d) => [d.label, d.day]));
  expect(days('2030-11-10T20:30:00Z')).toEqual({
    'today (the real clock)': undefined,
    '28 February of a non-leap year': '2031-02-28',
    '29 February': '2032-02-29',
    '31 December': '2030-12-31',
    'Paris: clocks forward': '2031-03-30',
    'Paris: clocks back': '2031-10-26',
    'New York: clocks forward': '2031-03-09',
    'New York: clocks back': '2031-11-02',
  });
  // Later: the next leap day is four years on, 28 February skips the leap year.
  expect(days('2028-03-01T00:00:00Z')).toMatchObject({
    '28 February of a non-leap year': '2029-02-28',
    '29 February': '2032-02-29',
    'Paris: clocks forward': '2028-03-26',
    'Paris: clocks back': '2028-10-29',
    'New York: clocks forward': '2028-03-12',
    'New York: clocks back': '2028-11-05',
  });
  // On the day itself, the day is today's.
  expect(days('2031-12-31T23:00:00Z')['31 December']).toBe('2031-12-31');
});
