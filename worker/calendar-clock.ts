/** Starting the calendar clock (workflows/calendar-clock.ts) at worker start: idempotent. */
import type { WorkflowClient } from '@temporalio/client';
import { CALENDAR_CLOCK_WORKFLOW_ID, calendarWakeSignal, type calendarClockWorkflow, type CalendarClockInput } from '../workflows/calendar-clock';
import { JOURNEY_TASK_QUEUE } from '../workflows/journey-identity';

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
    staticDetails: 'Sleeps until the next date-trigger entry (or an hour at most), stores the entries due as `Calendar Date Reached` events, which the router routes to their flows.',
  });
}
