/**
 * The Temporal Schedules Parcours runs, created or updated at worker start (idempotent: a
 * second worker, or a restart, finds the schedule and brings it to this definition).
 */
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';

export const MAINTENANCE_SCHEDULE_ID = 'parcours-maintenance';
export const DEFAULT_MAINTENANCE_EVERY_MS = 30_000;

export async function ensureMaintenanceSchedule(client: Client, everyMs = DEFAULT_MAINTENANCE_EVERY_MS): Promise<void> {
  const definition = {
    spec: { intervals: [{ every: everyMs }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'maintenanceWorkflow',
      taskQueue: JOURNEY_TASK_QUEUE,
      workflowId: MAINTENANCE_SCHEDULE_ID,
      args: [],
      staticSummary: 'Maintenance: journeys reconciled with Temporal, pending flow-status notices started',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: everyMs * 2 },
  };
  try {
    await client.schedule.create({ scheduleId: MAINTENANCE_SCHEDULE_ID, ...definition });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(MAINTENANCE_SCHEDULE_ID).update((previous) => ({ ...previous, ...definition }));
  }
}
