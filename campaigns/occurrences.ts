/**
 * When scheduled campaigns go out: the next moment of a recurring campaign (luxon, in the
 * campaign's zone; DST keeps the wall-clock hour), and the next occurrence of a campaign
 * relative to a calendar moment.
 */
import { DateTime } from 'luxon';
import { nextMomentDate } from '../calendar/moments';
import type { CampaignSchedule, MomentSchedule } from './schema';

/** The earliest zone on Earth (UTC+14): a local-time send starts there, so no zone's hour is missed. */
export const EARLIEST_ZONE = 'UTC+14';

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export function nextOccurrence(schedule: Extract<CampaignSchedule, { type: 'recurring' }>, after: number): number {
  const [hour, minute] = [Number(schedule.at.slice(0, 2)), Number(schedule.at.slice(3, 5))];
  let at = DateTime.fromMillis(after, { zone: schedule.timezone }).set({ hour, minute, second: 0, millisecond: 0 });
  if (schedule.every === 'week' && schedule.weekday)
    at = at.plus({ days: (WEEKDAYS.indexOf(schedule.weekday) + 1 - at.weekday + 7) % 7 });
  while (at.toMillis() <= after) at = at.plus(schedule.every === 'week' ? { weeks: 1 } : { days: 1 });
  return at.toMillis();
}

export interface MomentOccurrence {
  /** The moment's date, 'YYYY-MM-DD'. */
  moment: string;
  /** The send date (moment + offsetDays) and hour, local to each contact. */
  local: { date: string; time: string };
  /** When the run starts: that hour in the earliest zone (ms). */
  startAt: number;
}

/**
 * The first occurrence of a moment schedule that has not started by `after` (ms): the send
 * date is the moment's date plus `offsetDays`; undefined when the moment has no date in the
 * next years (a configured moment of past years only).
 */
export function momentOccurrence(
  schedule: Pick<MomentSchedule, 'moment' | 'offsetDays' | 'at'>,
  after: number,
): MomentOccurrence | undefined {
  // Moments whose send date can still be ahead: from two days before today minus the offset.
  let from = DateTime.fromMillis(after, { zone: 'utc' })
    .minus({ days: schedule.offsetDays + 2 })
    .toISODate()!;
  for (let tries = 0; tries < 5; tries += 1) {
    const moment = nextMomentDate(schedule.moment, from);
    if (moment === undefined) return undefined;
    const date = DateTime.fromISO(moment, { zone: 'utc' }).plus({ days: schedule.offsetDays }).toISODate()!;
    const startAt = DateTime.fromISO(`${date}T${schedule.at}`, { zone: EARLIEST_ZONE }).toMillis();
    if (startAt > after) return { moment, local: { date, time: schedule.at }, startAt };
    from = moment;
  }
  return undefined;
}
