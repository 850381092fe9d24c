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

/** The latest zone on Earth (UTC-12): a local-time send ends there. */
export const LATEST_ZONE = 'UTC-12';

/**
 * A local-time send: each recipient at `time` on `date` in their zone. `passed` (moment
 * schedules resolved per zone, issue 16): where that hour had passed when the schedule was
 * resolved (`before`, ms), the recipient gets the following occurrence instead, on
 * `passed.date`: in this run (`thisRun`, a one-off campaign), or in the next run (a yearly
 * campaign, whose next run is that occurrence).
 */
export interface LocalSend {
  date: string;
  time: string;
  passed?: { date: string; before: number; thisRun: boolean };
}

export interface MomentOccurrence {
  /** The moment's date, 'YYYY-MM-DD'. */
  moment: string;
  /** The send date (moment + offsetDays) and hour, local to each contact. */
  local: LocalSend;
  /** When the run starts: that hour in the earliest zone (ms); past when scheduled on the day. */
  startAt: number;
  /** Resolved per zone: when the last zone's hour comes (ms). */
  endAt?: number;
}

type MomentFields = Pick<MomentSchedule, 'moment' | 'offsetDays' | 'at'>;

/** The send dates of a moment schedule from the moment on or after `from` on, in order (five at most). */
function* sendDates(schedule: MomentFields, from: string): Generator<{ moment: string; date: string }> {
  for (let tries = 0; tries < 5; tries += 1) {
    const moment = nextMomentDate(schedule.moment, from);
    if (moment === undefined) return;
    yield { moment, date: DateTime.fromISO(moment, { zone: 'utc' }).plus({ days: schedule.offsetDays }).toISODate()! };
    from = moment;
  }
}

const startOf = (date: string, at: string, zone: string) => DateTime.fromISO(`${date}T${at}`, { zone }).toMillis();

/**
 * The occurrence of a moment schedule each contact gets, resolved per zone (issue 16): the
 * first whose hour is still ahead in some zone at `after` (ms), that is in the latest zone
 * (UTC-12), so a campaign scheduled on the day at 15:20 UTC for 15:29 goes out today where 15:29
 * is still ahead (Paris, New York), instead of a year later because 15:29 had passed at UTC+14.
 * Where it has passed, `passed` names the following occurrence. `since` (a moment date): only
 * later moments (a yearly campaign's next run after the one it sent). Undefined when the
 * moment has no date in the next years.
 *
 * `earliestZone`: the former rule, kept for the campaign schedules already running
 * (workflows/campaign.ts, patch `campaign-moment-per-zone`): the first occurrence whose hour has
 * not begun in the earliest zone.
 */
export function momentOccurrence(
  schedule: MomentFields,
  after: number,
  opts: { since?: string; thisRun?: boolean; earliestZone?: boolean } = {},
): MomentOccurrence | undefined {
  // Moments whose send date can still be ahead: from two days before today minus the offset.
  const from = DateTime.fromMillis(after, { zone: 'utc' })
    .minus({ days: schedule.offsetDays + 2 })
    .toISODate()!;
  const dates = sendDates(schedule, opts.since !== undefined && opts.since > from ? opts.since : from);
  for (let d = dates.next(); !d.done; d = dates.next()) {
    const { moment, date } = d.value;
    const startAt = startOf(date, schedule.at, EARLIEST_ZONE);
    if (opts.earliestZone) {
      if (startAt > after) return { moment, local: { date, time: schedule.at }, startAt };
      continue;
    }
    const endAt = startOf(date, schedule.at, LATEST_ZONE);
    if (endAt <= after) continue;
    const local: LocalSend = { date, time: schedule.at };
    if (startAt <= after) {
      // Some zones have passed the hour: the following occurrence is theirs.
      const following = dates.next();
      if (!following.done) local.passed = { date: following.value.date, before: after, thisRun: opts.thisRun ?? true };
    }
    return { moment, local, startAt, endAt };
  }
  return undefined;
}

/** When each zone's contacts get a local-time send, before it starts (GET /v1/campaigns/:id). */
export interface SendWindow {
  /** The send date and hour, local to each contact. */
  date: string;
  time: string;
  /** The first and last send instants (ISO): over the audience's zones, else over every zone on Earth. */
  earliest: string;
  latest: string;
  /** Per zone and send instant: how many contacts; `nextRun`: in the next yearly run, not this one. */
  zones: { zone: string; contacts: number; sendAt: string; nextRun?: boolean }[];
  /** Whether the audience is frozen (the run's recipients), or as it is now. */
  frozen: boolean;
}

const isoOf = (ms: number) => new Date(ms).toISOString();

/** The window of a local send over the zones of an audience not frozen yet. */
export function sendWindowOf(local: LocalSend, zones: { zone: string; contacts: number }[]): SendWindow {
  const rows = zones.map(({ zone, contacts }) => {
    const at = startOf(local.date, local.time, zone);
    const passed = local.passed && at <= local.passed.before ? local.passed : undefined;
    if (!passed) return { zone, contacts, at };
    return { zone, contacts, at: startOf(passed.date, local.time, zone), ...(passed.thisRun ? {} : { nextRun: true }) };
  });
  return frozenWindowOf(local, rows, false);
}

/** The window of a frozen run (its recipients' due instants by zone), or of any rows by instant. */
export function frozenWindowOf(
  local: Pick<LocalSend, 'date' | 'time'>,
  rows: { zone: string; contacts: number; at: number; nextRun?: boolean }[],
  frozen = true,
): SendWindow {
  const sorted = [...rows].sort((a, b) => a.at - b.at || a.zone.localeCompare(b.zone));
  const inRun = sorted.filter((r) => !r.nextRun);
  return {
    date: local.date,
    time: local.time,
    earliest: isoOf(inRun[0]?.at ?? startOf(local.date, local.time, EARLIEST_ZONE)),
    latest: isoOf(inRun.at(-1)?.at ?? startOf(local.date, local.time, LATEST_ZONE)),
    zones: sorted.map(({ at, ...r }) => ({ ...r, sendAt: isoOf(at) })),
    frozen,
  };
}
