/**
 * The calendar clock: one long-lived workflow (`calendar-clock`) behind every date trigger
 * (birthdays and other contact dates, name days, calendar moments). It sleeps on a durable
 * timer until the next instant an entry fires, then an activity stores the entries due since
 * its last wake (one event per contact, flow and day, which the router routes) and answers
 * the next instant. It wakes at least every `maxSleepMs` (default 1 hour) so that flows saved
 * and contacts written meanwhile are seen; the window it covers is always contiguous, so an
 * entry is late at most that long, never lost. Continues as new every 100 wakes.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineSignal,
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
}

export const CALENDAR_CLOCK_WORKFLOW_ID = 'calendar-clock';
export const DEFAULT_CALENDAR_MAX_SLEEP_MS = 3_600_000;

/** Wake now (a date flow was saved, a test wants it): the clock looks again at once. */
export const calendarWakeSignal = defineSignal('calendarWake');

const { calendarTick } = proxyActivities<CalendarActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const WAKES_PER_RUN = 100;

export async function calendarClockWorkflow(input: CalendarClockInput = {}): Promise<void> {
  const maxSleep = input.maxSleepMs ?? DEFAULT_CALENDAR_MAX_SLEEP_MS;
  let covered = input.coveredUntil ?? Date.now();
  let woken = false;
  setHandler(calendarWakeSignal, () => {
    woken = true;
  });
  for (let wakes = 0; wakes < WAKES_PER_RUN && !workflowInfo().continueAsNewSuggested; wakes += 1) {
    // Workflow time: deterministic, and what the time-skipping test server moves.
    const now = Date.now();
    const { nextAt } = await calendarTick({ from: covered, to: now });
    covered = now;
    const until = Math.min(nextAt ?? Number.POSITIVE_INFINITY, now + maxSleep);
    woken = false;
    const label = nextAt !== null && nextAt === until ? 'next date entry' : 'look again';
    await condition(() => woken, Math.max(1, until - now), { summary: `${label} at ${new Date(until).toISOString()}` });
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof calendarClockWorkflow>({ ...input, coveredUntil: covered });
}
