/**
 * The calendar's pure rules: French moments, name days, and the anniversary rule of date
 * triggers and yearly delay_until steps.
 */
import { DateTime } from 'luxon';
import { wakeTime } from '../activities/clock';
import { anniversaryIn, monthDayOf, nextAnniversary } from '../calendar/anniversary';
import { candidateDays, isAnniversaryOn, isNameDayOn, namesWishedOn, nextFiring } from '../flows/date-triggers';
import { configureMoments, listMoments, momentConfig, momentDate, nextMomentDate } from '../calendar/moments';
import { listedNames, nameDay, nameKey } from '../calendar/name-days';
import type { StepOf } from '../flows/schema';

afterEach(() => configureMoments(undefined));

describe('moments', () => {
  test('fête des mères: the last Sunday of May (2027: 30 May), the first of June when that Sunday is Pentecost (2020, 2023)', () => {
    expect(momentDate('fete-des-meres', 2027)).toBe('2027-05-30');
    expect(momentDate('pentecote', 2027)).toBe('2027-05-16');
    expect(momentDate('fete-des-meres', 2020)).toBe('2020-06-07');
    expect(momentDate('pentecote', 2020)).toBe('2020-05-31');
    expect(momentDate('fete-des-meres', 2023)).toBe('2023-06-04');
    expect(momentDate('fete-des-meres', 2026)).toBe('2026-05-31');
  });

  test('fête des pères: the third Sunday of June', () => {
    expect(momentDate('fete-des-peres', 2026)).toBe('2026-06-21');
    expect(momentDate('fete-des-peres', 2027)).toBe('2027-06-20');
  });

  test('Black Friday: the day after the fourth Thursday of November; Cyber Monday three days later', () => {
    expect(momentDate('black-friday', 2026)).toBe('2026-11-27');
    expect(momentDate('black-friday', 2027)).toBe('2027-11-26');
    expect(momentDate('black-friday', 2024)).toBe('2024-11-29');
    expect(momentDate('cyber-monday', 2026)).toBe('2026-11-30');
  });

  test('soldes: the national rule, and the years a decree moved them', () => {
    expect(momentDate('soldes-hiver', 2025)).toBe('2025-01-08');
    expect(momentDate('soldes-hiver', 2026)).toBe('2026-01-07'); // the second Wednesday is the 14th: the first
    expect(momentDate('soldes-ete', 2024)).toBe('2024-06-26');
    expect(momentDate('soldes-ete', 2026)).toBe('2026-06-24');
    expect(momentDate('soldes-ete', 2020)).toBe('2020-07-15'); // moved by decree
  });

  test('fixed days and public holidays', () => {
    expect(momentDate('noel', 2026)).toBe('2026-12-25');
    expect(momentDate('nouvel-an', 2027)).toBe('2027-01-01');
    expect(momentDate('saint-valentin', 2027)).toBe('2027-02-14');
    expect(momentDate('halloween', 2026)).toBe('2026-10-31');
    expect(momentDate('lundi-de-paques', 2027)).toBe('2027-03-29');
    expect(momentDate('ascension', 2027)).toBe('2027-05-06');
    expect(momentDate('fete-nationale', 2027)).toBe('2027-07-14');
    expect(momentDate('nowhere', 2027)).toBeUndefined();
  });

  test('nextMomentDate: the first date strictly after', () => {
    expect(nextMomentDate('black-friday', '2026-11-30')).toBe('2027-11-26');
    expect(nextMomentDate('black-friday', '2026-11-26')).toBe('2026-11-27');
    expect(nextMomentDate('fete-des-meres', '2026-11-30')).toBe('2027-05-30');
  });

  test('configuration: the rentrée, a soldes year, a moment of the shop', () => {
    const config = momentConfig.parse({
      rentree: '09-02',
      'soldes-ete': { '2027': '2027-06-30' },
      'shop-anniversary': '03-15',
    });
    configureMoments(config);
    expect(momentDate('rentree', 2027)).toBe('2027-09-02');
    expect(momentDate('soldes-ete', 2027)).toBe('2027-06-30');
    expect(momentDate('soldes-ete', 2026)).toBe('2026-06-24');
    expect(listMoments(2027).find((m) => m.id === 'shop-anniversary')).toEqual({
      id: 'shop-anniversary',
      name: 'shop-anniversary',
      kind: 'custom',
      date: '2027-03-15',
    });
    expect(momentConfig.safeParse({ rentree: '2027-09-02' }).success).toBe(false);
  });

  test('listMoments is in date order', () => {
    const dates = listMoments(2027).map((m) => m.date);
    expect(dates).toEqual([...dates].sort());
    expect(dates.length).toBeGreaterThanOrEqual(20);
  });
});

describe('name days', () => {
  test('Stéphane = stephane = STEPHANE: 26 December, with its variants', () => {
    for (const name of ['Stéphane', 'stephane', 'STEPHANE', ' Stéphane ', 'Stéphanie', 'Étienne', 'Stephan'])
      expect(nameDay(name)).toBe('12-26');
  });

  test('compound names: the whole compound when listed, else the first part', () => {
    expect(nameDay('Jean-Marie')).toBe('08-04');
    expect(nameDay('jean marie')).toBe('08-04');
    expect(nameDay('Jean-Pierre')).toBe('06-24');
    expect(nameDay('Marie-Claire')).toBe('08-15');
    expect(nameDay('Zorglub')).toBeUndefined();
    expect(nameDay('')).toBeUndefined();
  });

  test('the calendar lists at least 300 names, each once', () => {
    const names = listedNames();
    expect(names.length).toBeGreaterThanOrEqual(300);
    expect(new Set(names).size).toBe(names.length);
    expect(nameKey('Hélène')).toBe('helene');
  });

  test("29 February's names (Auguste) are wished on 28 February outside leap years, once", () => {
    expect(nameDay('Auguste')).toBe('02-29');
    expect(isNameDayOn('Auguste', '2031-02-28')).toBe(true);
    expect(namesWishedOn('2031-02-28')).toEqual(expect.arrayContaining(['romain', 'auguste']));
    expect(isNameDayOn('Auguste', '2028-02-28')).toBe(false);
    expect(isNameDayOn('Auguste', '2028-02-29')).toBe(true);
    expect(namesWishedOn('2028-02-28')).not.toContain('auguste');
    expect(isNameDayOn('Romain', '2031-02-28')).toBe(true);
  });
});

describe('the anniversary rule', () => {
  const seconds = Date.parse('1990-12-05T00:00:00Z') / 1000;
  test.each([
    ['an ISO date', '1990-12-05'],
    ['an ISO date-time (its written date)', '1990-12-05T23:30:00-05:00'],
    ['a year-less date', '--12-05'],
    ['a year-less date without dashes in front', '12-05'],
    ['Unix seconds', seconds],
    ['Unix milliseconds', seconds * 1000],
    ['Unix seconds in a string', String(seconds)],
  ])('%s names 5 December', (_name, value) => {
    expect(monthDayOf(value)).toMatchObject({ month: 12, day: 5 });
  });

  test('not dates', () => {
    for (const value of ['13-01', '02-30', 'tomorrow', '', true, null]) expect(monthDayOf(value)).toBeUndefined();
  });

  test('anniversaries start at the first full year; a year-less date has one every year', () => {
    // Stated days of a reference year (2030), not the month the suite runs in: the function reads no clock.
    const firstOrder = { month: 12, day: 7, year: 2030 };
    expect(isAnniversaryOn(firstOrder, '2030-12-07')).toBe(false);
    expect(isAnniversaryOn(firstOrder, '2029-12-07')).toBe(false);
    expect(isAnniversaryOn(firstOrder, '2031-12-07')).toBe(true);
    expect(isAnniversaryOn({ month: 12, day: 7 }, '2030-12-07')).toBe(true);
    expect(isAnniversaryOn({ month: 2, day: 29, year: 2028 }, '2029-02-28')).toBe(true);
  });

  test('29 February falls on 28 February outside leap years', () => {
    expect(anniversaryIn({ month: 2, day: 29 }, 2027)).toBe('2027-02-28');
    expect(anniversaryIn({ month: 2, day: 29 }, 2028)).toBe('2028-02-29');
    expect(nextAnniversary({ month: 2, day: 29 }, '2026-11-30')).toBe('2027-02-28');
    expect(nextAnniversary({ month: 12, day: 5 }, '2026-11-30')).toBe('2026-12-05');
    expect(nextAnniversary({ month: 11, day: 23 }, '2026-11-30')).toBe('2027-11-23');
  });
});

describe('delay_until yearly: the next anniversary, never at once', () => {
  const step = (extra: Partial<StepOf<'delay_until'>> = {}) =>
    ({ id: 'birthday', type: 'delay_until', date: 'contact.birthday', at: '09:00', ...extra }) as StepOf<'delay_until'>;
  const now = Date.parse('2026-11-23T10:00:00Z');
  const wake = (s: StepOf<'delay_until'>, birthday: unknown, zone = 'Europe/Paris') => {
    const result = wakeTime(s, now, zone, { contact: { birthday }, event: {} });
    if ('error' in result) throw new Error(result.error);
    return DateTime.fromMillis(result.at, { zone }).toISO();
  };

  test('a December birthday in 1990 waits for 5 December 09:00 (the bug: it fired on 23 November)', () => {
    expect(wake(step({ yearly: true }), '1990-12-05')).toBe('2026-12-05T09:00:00.000+01:00');
    // Without `yearly` the date is the date itself, long past: that is what fired at once.
    expect(wakeTime(step(), now, 'Europe/Paris', { contact: { birthday: '1990-12-05' }, event: {} })).toEqual({
      at: Date.parse('1990-12-05T08:00:00Z'),
    });
  });

  test('a birthday already past this year waits for next year; an offset applies', () => {
    expect(wake(step({ yearly: true }), '1990-03-01')).toBe('2027-03-01T09:00:00.000+01:00');
    expect(wake(step({ yearly: true, offset: '-3 days' }), '1990-11-26')).toBe('2027-11-23T09:00:00.000+01:00'); // 23 Nov 09:00 is past
    expect(wake(step({ yearly: true, offset: '-3 days' }), '1990-11-28')).toBe('2026-11-25T09:00:00.000+01:00');
  });

  test("a date of today (a sign-up at 08:00) waits for its first full year, not today's 09:00", () => {
    expect(wake(step({ yearly: true }), '2026-11-23T08:00:00+01:00')).toBe('2027-11-23T09:00:00.000+01:00');
    expect(wake(step({ yearly: true }), Date.parse('2026-11-23T07:00:00Z'))).toBe('2027-11-23T09:00:00.000+01:00');
  });

  test('a year-less date is yearly; 29 February waits for 28 February 2027', () => {
    expect(wake(step(), '--12-05', 'America/New_York')).toBe('2026-12-05T09:00:00.000-05:00');
    expect(wake(step({ yearly: true }), '2000-02-29')).toBe('2027-02-28T09:00:00.000+01:00');
  });
});

describe('date triggers: when the next entry fires', () => {
  const timing = { offsetDays: -3, at: '09:00' };
  test('the earliest zone first: 09:00 in Paris comes before 09:00 in New York', () => {
    const after = Date.parse('2026-11-30T12:00:00Z');
    expect(
      new Date(
        nextFiring({ moment: 'fete-des-meres' }, timing, ['America/New_York', 'Europe/Paris'], after)!,
      ).toISOString(),
    ).toBe('2027-05-27T07:00:00.000Z');
    expect(
      new Date(
        nextFiring(
          { moment: 'fete-des-meres' },
          timing,
          ['America/New_York', 'Europe/Paris'],
          Date.parse('2027-05-27T07:00:00Z'),
        )!,
      ).toISOString(),
    ).toBe('2027-05-27T13:00:00.000Z');
  });

  test('contact dates: the next anniversary day any contact has, 29 February on 28 February', () => {
    const after = Date.parse('2026-11-30T12:00:00Z');
    expect(
      new Date(
        nextFiring(
          {
            monthDays: [
              { month: 2, day: 29 },
              { month: 6, day: 1 },
            ],
          },
          { offsetDays: 0, at: '09:00' },
          ['UTC'],
          after,
        )!,
      ).toISOString(),
    ).toBe('2027-02-28T09:00:00.000Z');
    expect(nextFiring({ monthDays: [] }, timing, ['UTC'], after)).toBeUndefined();
  });

  test('the window of days to look at covers every zone', () => {
    expect(candidateDays(Date.parse('2026-12-05T07:00:00Z'), Date.parse('2026-12-05T08:00:00Z'))).toEqual([
      '2026-12-04',
      '2026-12-05',
      '2026-12-06',
    ]);
  });
});
