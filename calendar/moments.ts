/**
 * Calendar moments for France, built in and extendable: Noël, Nouvel An, Saint-Valentin, fête
 * des mères and des pères, Halloween, Black Friday, Cyber Monday, the rentrée, the winter and
 * summer soldes, Easter and Pentecost, and the public holidays. Pure and deterministic: the
 * dates are computed from the year (and the configuration), never from a clock.
 *
 * Configuration (CALENDAR_MOMENTS, a JSON object; see `momentConfig`): an id maps to "MM-DD"
 * (every year) or to { "YYYY": "YYYY-MM-DD" } (those years; the other years keep the built-in
 * rule). A built-in id is overridden (the rentrée of your region, a soldes date changed by
 * decree), any other id adds a moment ("shop-anniversary": "03-15").
 */
import Holidays from 'date-holidays';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { isoDay } from './anniversary';

const monthDay = z.string().regex(/^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'use "MM-DD"');
const yearDay = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'use "YYYY-MM-DD"');
export const momentId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'use lowercase letters, digits and "-"');
/** CALENDAR_MOMENTS: { "rentree": "09-02", "soldes-ete": { "2027": "2027-06-23" }, "shop-anniversary": "03-15" }. */
export const momentConfig = z.record(momentId, z.union([monthDay, z.record(z.string().regex(/^\d{4}$/), yearDay)]));
export type MomentConfig = z.infer<typeof momentConfig>;

const day = (year: number, month: number, d: number) => DateTime.fromObject({ year, month, day: d }, { zone: 'utc' });
const iso = (d: DateTime) => isoDay(d.year, d.month, d.day);
/** luxon weekdays: Monday 1 … Sunday 7. */
const WEDNESDAY = 3;
const THURSDAY = 4;
const SUNDAY = 7;

/** The n-th given weekday of a month (n = 1 for the first). */
function nthWeekday(year: number, month: number, weekday: number, n: number): DateTime {
  const first = day(year, month, 1);
  return first.plus({ days: ((weekday - first.weekday + 7) % 7) + 7 * (n - 1) });
}

function lastWeekday(year: number, month: number, weekday: number): DateTime {
  const last = day(year, month, 1).endOf('month').startOf('day');
  return last.minus({ days: (last.weekday - weekday + 7) % 7 });
}

/** Metropolitan France's public holidays, from date-holidays (rules by law, kept up to date there). */
const france = new Holidays('FR');
const holidaysByYear = new Map<number, Map<string, string>>();

/** The date of a date-holidays FR rule ("05-01", "easter 1") in a year: "YYYY-MM-DD". */
function holidayByRule(year: number, rule: string): DateTime {
  let rules = holidaysByYear.get(year);
  if (!rules) {
    rules = new Map(france.getHolidays(year, 'fr').map((h) => [h.rule, h.date.slice(0, 10)]));
    holidaysByYear.set(year, rules);
  }
  const date = rules.get(rule);
  if (!date) throw new Error(`date-holidays has no FR rule "${rule}" in ${year}`);
  return DateTime.fromISO(date, { zone: 'utc' });
}

/** Easter Sunday: the day before date-holidays' Lundi de Pâques. */
export function easter(year: number): DateTime {
  return holidayByRule(year, 'easter 1').minus({ days: 1 });
}

/**
 * Code de l'action sociale et des familles, art. D215-1: the last Sunday of May; when that
 * Sunday is Pentecost, the first Sunday of June (2020: 7 June; 2027: 30 May).
 */
function feteDesMeres(year: number): DateTime {
  const lastSunday = lastWeekday(year, 5, SUNDAY);
  return +lastSunday === +easter(year).plus({ days: 49 }) ? nthWeekday(year, 6, SUNDAY, 1) : lastSunday;
}

/**
 * Code de commerce, art. D310-15-2: winter soldes start on the second Wednesday of January,
 * the first when the second falls after the 12th; summer soldes on the last Wednesday of June,
 * the one before when the last falls after the 28th. Years a decree moved are in the table.
 */
const SOLDES_BY_DECREE: Record<string, Record<number, string>> = {
  'soldes-ete': { 2020: '2020-07-15', 2021: '2021-06-30' },
  'soldes-hiver': { 2021: '2021-01-20' },
};

function soldesHiver(year: number): DateTime {
  const second = nthWeekday(year, 1, WEDNESDAY, 2);
  return second.day > 12 ? nthWeekday(year, 1, WEDNESDAY, 1) : second;
}

function soldesEte(year: number): DateTime {
  const last = lastWeekday(year, 6, WEDNESDAY);
  return last.day > 28 ? last.minus({ days: 7 }) : last;
}

const blackFriday = (year: number) => nthWeekday(year, 11, THURSDAY, 4).plus({ days: 1 });

interface BuiltIn {
  name: string;
  kind: 'commercial' | 'holiday';
  date: (year: number) => DateTime;
}

const fixed = (month: number, d: number) => (year: number) => day(year, month, d);
const fromEaster = (days: number) => (year: number) => easter(year).plus({ days });
const publicHoliday = (rule: string) => (year: number) => holidayByRule(year, rule);

/** Public holidays come from date-holidays (FR, metropolitan France) by their rule; the commercial moments are ours. */
const BUILT_IN: Record<string, BuiltIn> = {
  'nouvel-an': { name: 'Nouvel An', kind: 'holiday', date: publicHoliday('01-01') },
  'soldes-hiver': { name: "Soldes d'hiver", kind: 'commercial', date: soldesHiver },
  'saint-valentin': { name: 'Saint-Valentin', kind: 'commercial', date: fixed(2, 14) },
  paques: { name: 'Pâques', kind: 'commercial', date: fromEaster(0) },
  'lundi-de-paques': { name: 'Lundi de Pâques', kind: 'holiday', date: publicHoliday('easter 1') },
  'fete-du-travail': { name: 'Fête du travail', kind: 'holiday', date: publicHoliday('05-01') },
  'victoire-1945': { name: 'Victoire 1945', kind: 'holiday', date: publicHoliday('05-08') },
  ascension: { name: 'Ascension', kind: 'holiday', date: publicHoliday('easter 39') },
  pentecote: { name: 'Pentecôte', kind: 'commercial', date: fromEaster(49) },
  'lundi-de-pentecote': { name: 'Lundi de Pentecôte', kind: 'holiday', date: publicHoliday('easter 50') },
  'fete-des-meres': { name: 'Fête des mères', kind: 'commercial', date: feteDesMeres },
  'fete-des-peres': { name: 'Fête des pères', kind: 'commercial', date: (year) => nthWeekday(year, 6, SUNDAY, 3) },
  'soldes-ete': { name: "Soldes d'été", kind: 'commercial', date: soldesEte },
  'fete-nationale': { name: 'Fête nationale', kind: 'holiday', date: publicHoliday('07-14') },
  assomption: { name: 'Assomption', kind: 'holiday', date: publicHoliday('08-15') },
  rentree: { name: 'Rentrée', kind: 'commercial', date: fixed(9, 1) },
  halloween: { name: 'Halloween', kind: 'commercial', date: fixed(10, 31) },
  toussaint: { name: 'Toussaint', kind: 'holiday', date: publicHoliday('11-01') },
  armistice: { name: 'Armistice 1918', kind: 'holiday', date: publicHoliday('11-11') },
  'black-friday': { name: 'Black Friday', kind: 'commercial', date: blackFriday },
  'cyber-monday': { name: 'Cyber Monday', kind: 'commercial', date: (year) => blackFriday(year).plus({ days: 3 }) },
  noel: { name: 'Noël', kind: 'holiday', date: publicHoliday('12-25') },
};

let configured: MomentConfig | undefined;

/** Sets the configuration: the composition root passes CALENDAR_MOMENTS (runtime/env.ts); undefined: built-in only. */
export function configureMoments(config: MomentConfig | undefined): void {
  configured = config;
}

function config(): MomentConfig {
  // Workflows and processes that were not configured (tests) see the built-in moments.
  return configured ?? {};
}

/**
 * The date ('YYYY-MM-DD') of a moment in a year; undefined for an unknown id (or a year the configuration leaves out).
 */
export function momentDate(id: string, year: number): string | undefined {
  if (!Number.isInteger(year) || year < 1 || year > 9999) return undefined;
  const own = config()[id];
  if (typeof own === 'string') return `${String(year).padStart(4, '0')}-${own}`;
  if (own?.[String(year)]) return own[String(year)];
  const decree = SOLDES_BY_DECREE[id]?.[year];
  if (decree) return decree;
  const builtIn = BUILT_IN[id];
  return builtIn ? iso(builtIn.date(year)) : undefined;
}

/** The first date of the moment strictly after `after` ('YYYY-MM-DD'). */
export function nextMomentDate(id: string, after: string): string | undefined {
  const year = Number(after.slice(0, 4));
  // A moment configured for some years only may skip a year or two.
  for (let y = year; y <= year + 3; y += 1) {
    const date = momentDate(id, y);
    if (date !== undefined && date > after) return date;
  }
  return undefined;
}

export interface Moment {
  id: string;
  name: string;
  kind: 'commercial' | 'holiday' | 'custom';
  date: string;
}

/** Every moment of a year, built in and configured, by date. */
export function listMoments(year: number): Moment[] {
  const ids = new Set([...Object.keys(BUILT_IN), ...Object.keys(config())]);
  const moments: Moment[] = [];
  for (const id of ids) {
    const date = momentDate(id, year);
    if (date === undefined) continue;
    const builtIn = BUILT_IN[id];
    moments.push({ id, name: builtIn?.name ?? id, kind: builtIn?.kind ?? 'custom', date });
  }
  return moments.sort((a, b) => a.date.localeCompare(b.date) || a.id.localeCompare(b.id));
}

export const isKnownMoment = (id: string) => id in BUILT_IN || id in config();
