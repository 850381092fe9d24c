/** The next moment of a recurring campaign (luxon, in the campaign's zone; DST keeps the wall-clock hour). */
import { DateTime } from 'luxon';
import type { CampaignSchedule } from './schema';

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export function nextOccurrence(schedule: Extract<CampaignSchedule, { type: 'recurring' }>, after: number): number {
  const [hour, minute] = [Number(schedule.at.slice(0, 2)), Number(schedule.at.slice(3, 5))];
  let at = DateTime.fromMillis(after, { zone: schedule.timezone }).set({ hour, minute, second: 0, millisecond: 0 });
  if (schedule.every === 'week' && schedule.weekday) at = at.plus({ days: (WEEKDAYS.indexOf(schedule.weekday) + 1 - at.weekday + 7) % 7 });
  while (at.toMillis() <= after) at = at.plus(schedule.every === 'week' ? { weeks: 1 } : { days: 1 });
  return at.toMillis();
}
