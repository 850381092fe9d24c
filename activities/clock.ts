/** Wall-clock rules in the contact's time zone: quiet hours and "delay until" moments (luxon). */
import { DateTime } from 'luxon';
import { anniversaryIn, epochMillisOf, monthDayOf } from '../calendar/anniversary';
import { durationParts } from '../flows/duration';
import type { StepOf } from '../flows/schema';

let defaultZone = 'UTC';

/** DEFAULT_TIMEZONE (runtime/env.ts), set once by the composition root; UTC until then. */
export function configureDefaultTimezone(zone: string): void {
  defaultZone = zone;
}

/** The zone of contacts without a `timezone` trait. */
export function defaultTimezone(): string {
  return defaultZone;
}

/** The contact's IANA zone (trait `timezone`, as Segment's context.timezone), else the default. */
export function zoneOf(profile: Record<string, unknown>, override?: string): string {
  const candidate = override ?? (typeof profile.timezone === 'string' ? profile.timezone : undefined);
  return candidate && DateTime.local().setZone(candidate).isValid ? candidate : defaultZone;
}

/** Quiet hours: the rule lives with the sending policy. */
export { quietUntil } from '../sending/quiet-hours';

/**
 * Numbers in date traits and properties follow calendar/anniversary.ts (below 1e11 Unix
 * seconds, else milliseconds; strings of digits too); other strings are ISO-8601 dates, read
 * in the contact's zone when they carry none.
 */
export { SECONDS_BELOW } from '../calendar/anniversary';

export function dateOf(value: string | number, zone: string): DateTime {
  const millis = epochMillisOf(value);
  if (millis !== undefined) return DateTime.fromMillis(millis, { zone });
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
  if ((parts.unit === 'day' || parts.unit === 'week') && Number.isInteger(amount))
    return base.plus({ [`${parts.unit}s`]: amount });
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
    for (const key of rest)
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof value !== 'string' && typeof value !== 'number') return { error: `${step.date} is not set` };
    if (step.yearly || isYearless(value)) return nextYearly(step, value, now, zone);
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

const isYearless = (value: string | number) => typeof value === 'string' && /^(--)?\d{2}-\d{2}$/.test(value.trim());

/**
 * `yearly` (and any year-less date): the next anniversary of the date's day, shifted by the
 * offset, at `at` (else midnight) in the contact's zone, that is still ahead. A birth date in
 * 1990 waits for this year's birthday (or next year's), never fires at once; a date of this year
 * waits for next year's (anniversaries start at the first full year); 29 February is
 * 28 February outside leap years (calendar/anniversary.ts).
 */
function nextYearly(
  step: StepOf<'delay_until'>,
  value: string | number,
  now: number,
  zone: string,
): { at: number } | { error: string } {
  const md = monthDayOf(value);
  if (!md) return { error: `${step.date} is not a date: ${String(value)}` };
  const year = DateTime.fromMillis(now, { zone }).year;
  // An offset of up to a year either way can move last or next year's anniversary into the window.
  for (let y = year - 1; y <= year + 2; y += 1) {
    // Anniversaries start at the first full year: a sign-up today waits for next year's, not today's.
    if (md.year !== undefined && y <= md.year) continue;
    let target: DateTime = DateTime.fromISO(anniversaryIn(md, y), { zone });
    if (step.offset) target = shiftBy(target, step.offset);
    if (step.at)
      target = target.set({
        hour: Number(step.at.slice(0, 2)),
        minute: Number(step.at.slice(3, 5)),
        second: 0,
        millisecond: 0,
      });
    if (target.toMillis() > now) return { at: target.toMillis() };
  }
  return { error: `${step.date}: no anniversary ahead` };
}
