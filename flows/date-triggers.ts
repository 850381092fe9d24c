/**
 * Date triggers, the pure part: which calendar days a trigger fires on, and the instant of each
 * firing in a time zone. The calendar clock (workflows/calendar-clock.ts) asks the activity
 * (activities/calendar.ts) for the entries due in a window and the next instant to wake at;
 * each entry is stored as a `Calendar Date Reached` event and the router starts the flow.
 */
import type { CalendarTrigger, FlowDefinition, Trigger } from './schema';
import { addDays, anniversaryIn, localInstant, type MonthDay } from '../calendar/anniversary';
import { momentDate } from '../calendar/moments';
import { nameDay, namesOn } from '../calendar/name-days';

/** The event each date-trigger entry is stored as (one per contact, flow and day; see entryMessageId). */
export const CALENDAR_DATE_REACHED = 'Calendar Date Reached';

export type CalendarKind = 'date' | 'name_day' | 'moment';

export function calendarKind(trigger: Trigger): CalendarKind | undefined {
  if ('date' in trigger) return 'date';
  if ('nameDay' in trigger) return 'name_day';
  if ('moment' in trigger) return 'moment';
  return undefined;
}

export const isCalendarTriggered = (
  flow: Pick<FlowDefinition, 'trigger'>,
): flow is FlowDefinition & { trigger: CalendarTrigger } => calendarKind(flow.trigger) !== undefined;

/** When and on which day: the trigger's offset and local hour. */
export function timingOf(trigger: CalendarTrigger): { offsetDays: number; at: string } {
  const t = 'date' in trigger ? trigger.date : 'nameDay' in trigger ? trigger.nameDay : trigger.moment;
  return { offsetDays: t.offsetDays ?? 0, at: t.at ?? '09:00' };
}

/**
 * For the router, a date-triggered flow is triggered by its own `Calendar Date Reached` events
 * (their `flow_id`), with the trigger's contact condition as the entry condition: entry claims,
 * re-entry rules and journey starts are the ones of every event-triggered flow.
 */
export function asEntryFlow(flow: FlowDefinition & { trigger: CalendarTrigger }): FlowDefinition {
  const contact = flow.trigger.contact;
  return {
    ...flow,
    trigger: {
      event: CALENDAR_DATE_REACHED,
      where: [{ property: 'flow_id', op: 'equals', value: flow.id }],
      ...(contact ? { contact } : {}),
    },
  };
}

/** One entry per contact, flow and firing day: a retried tick stores nothing twice. */
export const entryMessageId = (flowId: string, contactId: string, fireDay: string) =>
  `calendar:${flowId}:${contactId}:${fireDay}`;

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The days (YYYY-MM-DD) whose local hour may fall in (from, to] somewhere on Earth: zones run
 * from UTC-12 to UTC+14, so one day either side of the window's UTC days.
 */
export function candidateDays(from: number, to: number): string[] {
  const days: string[] = [];
  for (let d = addDays(utcDay(from), -1); d <= addDays(utcDay(to), 1); d = addDays(d, 1)) days.push(d);
  return days;
}

/** The day of the trigger's date for a firing day (the anniversary, the name day, the moment). */
export const dayOfFiring = (fireDay: string, offsetDays: number) => addDays(fireDay, -offsetDays);
export const firingDayOf = (day: string, offsetDays: number) => addDays(day, offsetDays);

/**
 * Whether a contact date (month, day) has its anniversary on `day` (29 February on 28 February
 * outside leap years). Anniversaries start at the first full year: a date with a year has none
 * in that year or before (a first order placed today is not "one year already"; a birthday's
 * year-0 day is the birth itself, never a day to wish).
 */
export const isAnniversaryOn = (md: Pick<MonthDay, 'month' | 'day'> & { year?: number | null }, day: string) =>
  anniversaryIn(md, Number(day.slice(0, 4))) === day && (md.year == null || Number(day.slice(0, 4)) > md.year);

/**
 * Whether a first name (or its normalised key) is wished on `day` (29 February names on the 28th outside leap
 * years).
 */
export function isNameDayOn(firstName: string, day: string): boolean {
  const md = nameDay(firstName);
  return md !== undefined && isAnniversaryOn({ month: Number(md.slice(0, 2)), day: Number(md.slice(3, 5)) }, day);
}

/** The name keys wished on `day` ('YYYY-MM-DD'): outside leap years, 28 February also wishes the 29th's names. */
export const namesWishedOn = (day: string): string[] =>
  monthDaysFor(day).flatMap((md) => namesOn(`${String(md.month).padStart(2, '0')}-${String(md.day).padStart(2, '0')}`));

export const isMomentOn = (id: string, day: string) => momentDate(id, Number(day.slice(0, 4))) === day;

/** The (month, day) pairs whose contacts may have an anniversary on `day` (28 February brings in the 29th). */
export function monthDaysFor(day: string): { month: number; day: number }[] {
  const md = { month: Number(day.slice(5, 7)), day: Number(day.slice(8, 10)) };
  return md.month === 2 && md.day === 28 && isAnniversaryOn({ month: 2, day: 29 }, day)
    ? [md, { month: 2, day: 29 }]
    : [md];
}

/**
 * The earliest firing instant after `after` for days of the trigger's date given as
 * (month, day) pairs (date and name-day triggers) or a moment, over the zones in use.
 */
export function nextFiring(
  kind: { monthDays: { month: number; day: number }[] } | { moment: string },
  timing: { offsetDays: number; at: string },
  zones: string[],
  after: number,
): number | undefined {
  const year = Number(utcDay(after).slice(0, 4));
  const days = new Set<string>();
  for (let y = year - 1; y <= year + 2; y += 1) {
    if ('moment' in kind) {
      const d = momentDate(kind.moment, y);
      if (d) days.add(d);
    } else for (const md of kind.monthDays) days.add(anniversaryIn(md, y));
  }
  const floor = addDays(utcDay(after), -2);
  const firingDays = [...days]
    .map((d) => firingDayOf(d, timing.offsetDays))
    .filter((d) => d >= floor)
    .sort();
  let best: number | undefined;
  // Days are in order and a day's instants span at most 26 hours: the first few days decide.
  for (const d of firingDays.slice(0, 4)) {
    for (const zone of zones) {
      const at = localInstant(d, timing.at, zone);
      if (at > after && (best === undefined || at < best)) best = at;
    }
  }
  return best;
}
