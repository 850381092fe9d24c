/**
 * Periodic upkeep, run by a Temporal Schedule (worker/schedules.ts) rather than a timer in some
 * process: reconciles journeys whose workflow ended without recording it, and starts the
 * flow-status workflow of any notice left pending (its start failed while Temporal was down).
 * The Schedule skips a run while the previous one is still going, so one pass runs at a time
 * across every process.
 */
import { proxyActivities } from '@temporalio/workflow';

/** Implemented by worker/maintenance-activities.ts (declared here: the workflow imports no I/O code). */
export interface MaintenanceActivities {
  reconcileJourneysPass(): Promise<{ reconciled: number }>;
  resumeFlowStatusPass(): Promise<{ started: number }>;
}

const { reconcileJourneysPass, resumeFlowStatusPass } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '5 minutes',
  // The next scheduled run is the retry.
  retry: { maximumAttempts: 1 },
});

export async function maintenanceWorkflow(): Promise<{ reconciled: number; noticesStarted: number }> {
  const { reconciled } = await reconcileJourneysPass();
  const { started } = await resumeFlowStatusPass();
  return { reconciled, noticesStarted: started };
}
