/**
 * The anniversary rule, in one place: which calendar day (month, day) a date value names, and
 * on which day it falls in a given year. Pure and deterministic (no clock, no I/O): the API,
 * activities and workflows may import it.
 *
 * - Year-less dates: `--12-25` (ISO 8601's form) and `12-25`.
 * - ISO strings (`1990-12-25`, `1990-12-25T00:00:00Z`, `1990-12-25T23:30:00-05:00`): the date as
 *   written; the time and the offset are ignored (a birthday stored as midnight UTC by a
 *   JavaScript client stays on its day in every time zone).
 * - Numbers, and strings of digits: Unix seconds below 1e11, else milliseconds (the same rule
 *   as `delay_until`); the UTC date of that instant.
 * - 29 February falls on 28 February in years that are not leap years.
 */
import { DateTime } from 'luxon';

/**
 * Numbers in date traits and properties: below 1e11 they are Unix seconds, from 1e11 on Unix
 * milliseconds. (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973: no real date
 * in either unit falls on the wrong side.)
 */
export const SECONDS_BELOW = 1e11;

/** A number or a string of digits as epoch milliseconds (the seconds rule); else undefined. */
export function epochMillisOf(value: string | number): number | undefined {
  const numeric = typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : undefined;
  if (numeric === undefined || !Number.isFinite(numeric)) return undefined;
  return Math.abs(numeric) < SECONDS_BELOW ? numeric * 1000 : numeric;
}

export interface MonthDay {
  month: number;
  day: number;
  /** The year, when the value has one. */
  year?: number;
}

const YEARLESS = /^(?:--)?(\d{2})-(\d{2})$/;
const ISO_DATE = /^(\d{4,6})-(\d{2})-(\d{2})(?:$|[T\s])/;

/** The calendar day a date value names (see the rule above); undefined when it names none. */
export function monthDayOf(value: unknown): MonthDay | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const millis = epochMillisOf(value);
  if (millis !== undefined) {
    const d = DateTime.fromMillis(millis, { zone: 'utc' });
    return d.isValid ? { month: d.month, day: d.day, year: d.year } : undefined;
  }
  const text = String(value).trim();
  const yearless = YEARLESS.exec(text);
  if (yearless)
    return validDay(2000, Number(yearless[1]), Number(yearless[2]))
      ? { month: Number(yearless[1]), day: Number(yearless[2]) }
      : undefined;
  const iso = ISO_DATE.exec(text);
  if (!iso) return undefined;
  const [year, month, day] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  return validDay(year, month, day) ? { month, day, year } : undefined;
}

/** 2000 is a leap year: a year-less 02-29 is a valid day. */
function validDay(year: number, month: number, day: number): boolean {
  return DateTime.fromObject({ year, month, day }, { zone: 'utc' }).isValid;
}

/** The day (month, day) falls on in `year`: 29 February is 28 February outside leap years. */
export function anniversaryIn(md: Pick<MonthDay, 'month' | 'day'>, year: number): string {
  const leap = DateTime.fromObject({ year }, { zone: 'utc' }).isInLeapYear;
  const day = md.month === 2 && md.day === 29 && !leap ? 28 : md.day;
  return isoDay(year, md.month, day);
}

/** The first anniversary on or after `from` ('YYYY-MM-DD'). */
export function nextAnniversary(md: Pick<MonthDay, 'month' | 'day'>, from: string): string {
  const year = Number(from.slice(0, 4));
  const thisYear = anniversaryIn(md, year);
  return thisYear >= from ? thisYear : anniversaryIn(md, year + 1);
}

export function isoDay(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** 'YYYY-MM-DD' shifted by whole calendar days. */
export function addDays(day: string, days: number): string {
  return DateTime.fromISO(day, { zone: 'utc' }).plus({ days }).toISODate()!;
}

/** The instant (ms) of `at` ('HH:MM') on calendar day `day` in `zone` (a DST gap moves it forward, as luxon does). */
export function localInstant(day: string, at: string, zone: string): number {
  return DateTime.fromISO(`${day}T${at}`, { zone }).toMillis();
}
