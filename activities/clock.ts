/** Wall-clock rules in the contact's time zone: quiet hours and "delay until" moments (luxon). */
import { DateTime } from 'luxon';
import { durationParts } from '../flows/duration';
import type { QuietWindow, StepOf } from '../flows/schema';

export const DEFAULT_TIMEZONE = process.env.DEFAULT_TIMEZONE ?? 'UTC';

/** The contact's IANA zone (trait `timezone`, as Segment's context.timezone), else the default. */
export function zoneOf(profile: Record<string, unknown>, override?: string): string {
  const candidate = override ?? (typeof profile.timezone === 'string' ? profile.timezone : undefined);
  return candidate && DateTime.local().setZone(candidate).isValid ? candidate : DEFAULT_TIMEZONE;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When `now` falls in the quiet window, the instant it ends (ms); otherwise undefined. */
export function quietUntil(now: number, window: QuietWindow, zone: string): number | undefined {
  const local = DateTime.fromMillis(now, { zone });
  const at = local.hour * 60 + local.minute;
  const from = minutes(window.from);
  const to = minutes(window.to);
  const inside = from <= to ? at >= from && at < to : at >= from || at < to;
  if (!inside) return undefined;
  let end = local.set({ hour: Math.floor(to / 60), minute: to % 60, second: 0, millisecond: 0 });
  if (end.toMillis() <= now) end = end.plus({ days: 1 });
  return end.toMillis();
}

/**
 * Numbers in date traits and properties: below 1e11 they are Unix seconds, from 1e11 on Unix
 * milliseconds. (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973: no real date
 * in either unit falls on the wrong side.) Strings of digits follow the same rule; other
 * strings are ISO-8601 dates, read in the contact's zone when they carry none.
 */
export const SECONDS_BELOW = 1e11;

export function dateOf(value: string | number, zone: string): DateTime {
  const numeric = typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : undefined;
  if (numeric !== undefined) return DateTime.fromMillis(Math.abs(numeric) < SECONDS_BELOW ? numeric * 1000 : numeric, { zone });
  return DateTime.fromISO(String(value).trim(), { zone });
}

/**
 * Shifts by an offset such as "-3 days": days and weeks are calendar days in `base`'s zone
 * (across a DST change "-3 days" at 10:00 is 10:00 local, not 72 hours earlier); hours and
 * smaller units are exact durations.
 */
export function shiftBy(base: DateTime, offset: string): DateTime {
  const sign = offset.trim().startsWith('-') ? -1 : 1;
  const parts = durationParts(offset.replace(/^\s*[+-]\s*/, ''));
  if (!parts) return base;
  const amount = sign * parts.amount;
  if ((parts.unit === 'day' || parts.unit === 'week') && Number.isInteger(amount)) return base.plus({ [`${parts.unit}s`]: amount });
  const ms = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 }[parts.unit];
  return base.plus({ milliseconds: Math.round(amount * ms) });
}

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** The moment a delay_until step waits for; a moment already past means "now". */
export function wakeTime(
  step: StepOf<'delay_until'>,
  now: number,
  zone: string,
  sources: { contact: Record<string, unknown>; event: Record<string, unknown> },
): { at: number } | { error: string } {
  let base: DateTime = DateTime.fromMillis(now, { zone });
  if (step.date) {
    const [root, ...rest] = step.date.split('.');
    let value: unknown = sources[root as 'contact' | 'event'];
    for (const key of rest) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof value !== 'string' && typeof value !== 'number') return { error: `${step.date} is not set` };
    const parsed = dateOf(value, zone);
    if (!parsed.isValid) return { error: `${step.date} is not a date: ${String(value)}` };
    base = step.offset ? shiftBy(parsed, step.offset) : parsed;
    if (!step.at) return { at: base.toMillis() };
  }
  const [hour, minute] = [Number(step.at!.slice(0, 2)), Number(step.at!.slice(3, 5))];
  let target = base.plus({ days: step.days ?? 0 }).set({ hour, minute, second: 0, millisecond: 0 });
  if (step.weekday) {
    const wanted = WEEKDAYS.indexOf(step.weekday) + 1; // luxon: Monday = 1
    target = target.plus({ days: (wanted - target.weekday + 7) % 7 });
    if (target.toMillis() <= now) target = target.plus({ days: 7 });
  } else if (!step.date && (step.days ?? 0) === 0 && target.toMillis() <= now) {
    target = target.plus({ days: 1 }); // the next such time of day
  }
  return { at: target.toMillis() };
}
