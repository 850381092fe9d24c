/**
 * The calendar clock: one long-lived workflow (`calendar-clock`) behind every date trigger
 * (birthdays and other contact dates, name days, calendar moments). It sleeps on a durable
 * timer until the next instant an entry fires, then an activity stores the entries due since
 * its last wake (one event per contact, flow and day, which the router routes) and answers
 * the next instant. A wake signal (a date flow saved live) makes it look again at once, even when
 * it arrives during a tick. While it sleeps it looks every minute whether a contact's calendar
 * facts changed (one index read), and ticks then; it ticks at least every `maxSleepMs` (default
 * 1 hour) anyway. The window it covers is always contiguous, so an entry is late at most that
 * long, never lost. Continues as new every 100 wakes.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CalendarActivities } from '../activities/calendar';

export interface CalendarClockInput {
  /** The end of the last window covered (ms, workflow time); default: when the clock starts. */
  coveredUntil?: number;
  /** The longest sleep between wakes (ms). */
  maxSleepMs?: number;
  /** How often a sleeping clock looks for changed contacts (ms; default a minute). */
  lookMs?: number;
}

export const CALENDAR_CLOCK_WORKFLOW_ID = 'calendar-clock';
export const DEFAULT_CALENDAR_MAX_SLEEP_MS = 3_600_000;

/** Wake now (a date flow was saved, a test wants it): the clock looks again at once. */
export const calendarWakeSignal = defineSignal('calendarWake');

const { calendarTick, calendarChanges } = proxyActivities<CalendarActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const WAKES_PER_RUN = 100;
export const DEFAULT_CALENDAR_LOOK_MS = 60_000;

export async function calendarClockWorkflow(input: CalendarClockInput = {}): Promise<void> {
  const maxSleep = input.maxSleepMs ?? DEFAULT_CALENDAR_MAX_SLEEP_MS;
  const lookMs = input.lookMs ?? DEFAULT_CALENDAR_LOOK_MS;
  let covered = input.coveredUntil ?? Date.now();
  let woken = false;
  setHandler(calendarWakeSignal, () => {
    woken = true;
  });
  // Clocks started before these changes replay their recorded sleeps without them.
  const keepWakeDuringTick = patched('calendar-wake-during-tick');
  const lookEveryMinute = patched('calendar-minute-look');
  let wakes = 0;
  const more = () => wakes < WAKES_PER_RUN && !workflowInfo().continueAsNewSuggested;
  while (more()) {
    // Workflow time: deterministic, and what the time-skipping test server moves.
    const now = Date.now();
    // Cleared before the tick, not after: a wake signalled while it runs (a flow the tick did
    // not read yet) makes the clock tick again at once.
    if (keepWakeDuringTick) woken = false;
    const { nextAt, mark } = await calendarTick({ from: covered, to: now });
    covered = now;
    wakes += 1;
    const until = Math.min(nextAt ?? Number.POSITIVE_INFINITY, now + maxSleep);
    if (!keepWakeDuringTick) woken = false;
    const label = nextAt !== null && nextAt === until ? 'next date entry' : 'look again';
    const summary = `${label} at ${new Date(until).toISOString()}`;
    if (!lookEveryMinute) {
      await condition(() => woken, Math.max(1, until - now), { summary });
      continue;
    }
    // Sleeps a minute at a time; a contact written meanwhile (a birthday today) ends the sleep.
    // Each look is a wake: a clock that sleeps an hour continues as new every 100 minutes.
    for (let seen = mark ?? null; Date.now() < until && more(); wakes += 1) {
      const step = Math.min(lookMs, until - Date.now());
      if (await condition(() => woken, Math.max(1, step), { summary })) break;
      if (Date.now() >= until) break;
      const look = await calendarChanges();
      if (look.mark !== seen) break;
      seen = look.mark;
    }
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof calendarClockWorkflow>({ ...input, coveredUntil: covered });
}
