/**
 * The scheduled maintenance workflow's activities (workflows/maintenance.ts), through the worker's
 * client. Here, not in activities/: they route (reconcile), and routing reaches activities/.
 */
import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { createLogger, type Logger } from '../runtime/logger';
import { resumeFlowStatusNotices } from '../routing/flow-status';
import { reconcileJourneys } from '../routing/reconcile';
import type { MaintenanceActivities } from '../workflows/maintenance';

export function createMaintenanceActivities(db: Db, log: Logger = createLogger('silent')): MaintenanceActivities {
  return {
    async reconcileJourneysPass(): Promise<{ reconciled: number }> {
      return { reconciled: await reconcileJourneys({ db, workflows: Context.current().client.workflow, log }) };
    },
    async resumeFlowStatusPass(): Promise<{ started: number }> {
      return { started: await resumeFlowStatusNotices({ db, workflows: Context.current().client.workflow, log }) };
    },
  };
}
