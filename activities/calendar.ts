/**
 * The calendar clock's activity: stores the date-trigger entries due in a window (one
 * `Calendar Date Reached` event per contact, flow and day; the router loop routes them and
 * starts the flows) and answers the next instant anything fires. Activities never route.
 */
import { IANAZone } from 'luxon';
import { localInstant } from '../calendar/anniversary';
import {
  CALENDAR_DATE_REACHED,
  candidateDays,
  dayOfFiring,
  entryMessageId,
  isAnniversaryOn,
  isCalendarTriggered,
  isMomentOn,
  isNameDayOn,
  monthDaysFor,
  namesWishedOn,
  nextFiring,
  timingOf,
  type CalendarKind,
} from '../flows/date-triggers';
import { listedNames, nameDay } from '../calendar/name-days';
import {
  calendarChangeMark,
  contactsInZones,
  contactsNamed,
  contactsOnDays,
  daysWithContacts,
  namesInUse,
  registerCalendarProperty,
  zonesInUse,
} from '../db/contact-dates';
import { insertEvents, type NewEvent } from '../db/events';
import { listFlows } from '../db/flows';
import type { Db } from '../db/pool';
import type { CalendarTrigger, FlowDefinition } from '../flows/schema';
import { defaultTimezone } from './clock';

/**
 * A clock that was down longer than this does not catch up: entries older than a day are not
 * made (a birthday greeting a week late is worse than none).
 */
export const CALENDAR_CATCH_UP_MS = 24 * 3_600_000;
const PAGE = 1_000;

export interface CalendarTick {
  /** The window's bounds (ms, workflow time): entries firing in (from, to] are stored. */
  from: number;
  to: number;
}

export interface CalendarTickOutcome {
  entered: number;
  /** The next instant an entry fires (ms), given the flows and contacts now; null: none. */
  nextAt: number | null;
  /** The calendar change mark read before the tick looked (calendarChanges compares with it). */
  mark?: number | null;
}

type CalendarFlow = FlowDefinition & { trigger: CalendarTrigger };

const validZone = (zone: string | null | undefined) => (zone && IANAZone.isValidZone(zone) ? zone : defaultTimezone());

export function createCalendarActivities(db: Db) {
  return {
    async calendarTick(tick: CalendarTick): Promise<CalendarTickOutcome> {
      // Read first: a contact written while the tick runs changes the mark, so the next look sees it.
      const mark = await calendarChangeMark(db);
      const from = Math.max(tick.from, tick.to - CALENDAR_CATCH_UP_MS);
      const flows = (await listFlows(db)).filter(
        (f): f is CalendarFlow & typeof f => f.status === 'live' && isCalendarTriggered(f),
      );
      const validZones = [...new Set((await zonesInUse(db)).filter((z) => IANAZone.isValidZone(z)))];
      const zones = [...new Set([...validZones, defaultTimezone()])];
      let entered = 0;
      let nextAt: number | null = null;
      for (const flow of flows) {
        if ('date' in flow.trigger) await registerCalendarProperty(db, flow.trigger.date.property);
        // Stored a page at a time: a moment enters the whole base, which never sits in memory.
        const pending: NewEvent[] = [];
        const flush = async () => {
          if (pending.length) entered += (await insertEvents(db, pending.splice(0))).length;
        };
        const store = async (event: NewEvent) => {
          pending.push(event);
          if (pending.length >= PAGE) await flush();
        };
        await dueEntries(db, flow, from, tick.to, { zones, validZones }, store);
        await flush();
        const next = await nextFor(db, flow, zones, tick.to);
        if (next !== undefined && (nextAt === null || next < nextAt)) nextAt = next;
      }
      return { entered, nextAt, mark };
    },
    /** The minute look while the clock sleeps: one index read, no scan. */
    async calendarChanges(): Promise<{ mark: number | null }> {
      return { mark: await calendarChangeMark(db) };
    },
  };
}

export type CalendarActivities = ReturnType<typeof createCalendarActivities>;

function entry(
  flow: CalendarFlow,
  kind: CalendarKind,
  contactId: string,
  fireDay: string,
  at: number,
  extra: Record<string, unknown>,
): NewEvent {
  return {
    messageId: entryMessageId(flow.id, contactId, fireDay),
    type: 'track',
    contactId,
    name: CALENDAR_DATE_REACHED,
    properties: {
      flow_id: flow.id,
      trigger: kind,
      date: dayOfFiring(fireDay, timingOf(flow.trigger).offsetDays),
      ...extra,
    },
    context: {},
    occurredAt: new Date(at).toISOString(),
  };
}

async function dueEntries(
  db: Db,
  flow: CalendarFlow,
  from: number,
  to: number,
  z: { zones: string[]; validZones: string[] },
  store: (event: NewEvent) => Promise<void>,
): Promise<void> {
  const { offsetDays, at } = timingOf(flow.trigger);
  const days = candidateDays(from, to);
  const instant = (fireDay: string, zone: string | null) => localInstant(fireDay, at, validZone(zone));
  const inWindow = (ms: number) => ms > from && ms <= to;
  const trigger = flow.trigger;
  if ('date' in trigger) {
    const property = trigger.date.property;
    const contacts = await contactsOnDays(
      db,
      property,
      days.flatMap((d) => monthDaysFor(dayOfFiring(d, offsetDays))),
    );
    for (const c of contacts) {
      for (const fireDay of days) {
        if (!isAnniversaryOn(c, dayOfFiring(fireDay, offsetDays))) continue;
        const ms = instant(fireDay, c.zone);
        if (inWindow(ms)) await store(entry(flow, 'date', c.contactId, fireDay, ms, { property }));
      }
    }
  } else if ('nameDay' in trigger) {
    for (const fireDay of days) {
      const day = dayOfFiring(fireDay, offsetDays);
      for (const c of await contactsNamed(db, namesWishedOn(day))) {
        if (!isNameDayOn(c.firstName, day)) continue;
        const ms = instant(fireDay, c.zone);
        if (inWindow(ms)) await store(entry(flow, 'name_day', c.contactId, fireDay, ms, { name: c.firstName }));
      }
    }
  } else {
    const moment = trigger.moment.id;
    for (const fireDay of days) {
      if (!isMomentOn(moment, dayOfFiring(fireDay, offsetDays))) continue;
      for (const zone of z.zones) {
        const ms = localInstant(fireDay, at, zone);
        if (!inWindow(ms)) continue;
        // Everyone in this zone (the default zone takes those without a valid one), a page at a time.
        for (let afterId = ''; ; ) {
          const page = await contactsInZones(db, [zone], {
            orUnzoned: zone === defaultTimezone(),
            validZones: z.validZones,
            afterId,
            limit: PAGE,
          });
          for (const c of page) await store(entry(flow, 'moment', c.contactId, fireDay, ms, { moment }));
          if (page.length < PAGE) break;
          afterId = page[page.length - 1].contactId;
        }
      }
    }
  }
}

async function nextFor(db: Db, flow: CalendarFlow, zones: string[], after: number): Promise<number | undefined> {
  const timing = timingOf(flow.trigger);
  const trigger = flow.trigger;
  if ('moment' in trigger) return nextFiring({ moment: trigger.moment.id }, timing, zones, after);
  if ('date' in trigger)
    return nextFiring({ monthDays: await daysWithContacts(db, trigger.date.property) }, timing, zones, after);
  const monthDays = (await namesInUse(db, listedNames())).flatMap((key) => {
    const day = nameDay(key);
    return day ? [{ month: Number(day.slice(0, 2)), day: Number(day.slice(3, 5)) }] : [];
  });
  return nextFiring({ monthDays }, timing, zones, after);
}
