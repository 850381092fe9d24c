/** Starting the calendar clock (workflows/calendar-clock.ts) at worker start: idempotent. */
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import {
  CALENDAR_CLOCK_WORKFLOW_ID,
  calendarWakeSignal,
  type calendarClockWorkflow,
  type CalendarClockInput,
} from '../workflows/calendar-clock';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';

/**
 * Starts the clock, or wakes the one running (signalWithStart: "already running" is no error),
 * which then looks at the flows and contacts at once.
 */
export async function ensureCalendarClock(workflows: WorkflowClient, input: CalendarClockInput = {}): Promise<void> {
  await workflows.signalWithStart<typeof calendarClockWorkflow, []>('calendarClockWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: CALENDAR_CLOCK_WORKFLOW_ID,
    args: [input],
    signal: calendarWakeSignal,
    signalArgs: [],
    staticSummary: 'Calendar clock: birthdays, name days and calendar moments',
    staticDetails:
      'Sleeps until the next date-trigger entry (or an hour at most), stores the entries due as ' +
      '`Calendar Date Reached` events, which the router routes to their flows.',
  });
}

/**
 * Wakes the running clock so that it sees a date flow saved live or activated at once (it would
 * otherwise see it at its next wake, up to `maxSleepMs` later, past entries due meanwhile).
 * Only a signal: the worker starts the clock (with its settings), and a clock not running yet
 * sees every flow when it starts. A contact's date trait written while it sleeps is seen at
 * the next wake (at most an hour by default), not woken for: that would be a signal per import.
 */
export async function wakeCalendarClock(workflows: WorkflowClient): Promise<void> {
  try {
    await workflows.getHandle(CALENDAR_CLOCK_WORKFLOW_ID).signal(calendarWakeSignal);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
