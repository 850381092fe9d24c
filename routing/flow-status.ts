/**
 * A flow's status reaches its running journeys as a signal: paused journeys hold before their
 * next send, resumed ones go on, archived ones end. (The send guard also reads the status from
 * the database, so a journey whose signal was lost still holds or ends.)
 *
 * The status change commits with a notice row; then the flow's status workflow
 * (workflows/flow-status.ts) is started or signalled, after the HTTP answer, and tells the
 * journeys. A notice whose workflow could not be started (Temporal down at that moment) is
 * started by the maintenance Schedule's pass (workflows/maintenance.ts): starting is idempotent
 * (signalWithStart), nothing is claimed.
 */
import type { WorkflowClient } from '@temporalio/client';
import { flowsWithPendingNotices, latestNotice } from '../db/flow-status-notices';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import {
  flowStatusChangedSignal,
  flowStatusWorkflowId,
  type flowStatusWorkflow,
  type FlowStatusInput,
} from '../workflows/flow-status';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';
import type { RoutingDeps } from './route-event';

export interface FlowStatusDeps extends RoutingDeps {
  db: Db;
  log: Logger;
}

/** Starts the flow's status workflow, or tells the running one a newer notice is pending. */
export async function startFlowStatusWorkflow(workflows: WorkflowClient, flowId: string, noticeId: number) {
  const input: FlowStatusInput = { flowId, noticeId };
  await workflows.signalWithStart<typeof flowStatusWorkflow, [{ noticeId: number }]>('flowStatusWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: flowStatusWorkflowId(flowId),
    args: [input],
    signal: flowStatusChangedSignal,
    signalArgs: [{ noticeId }],
    staticSummary: `Flow ${flowId}: tell the running journeys its status`,
  });
}

/** After the API has answered: starts the telling, logging (not throwing) a failure; the periodic pass retries. */
export function notifyInBackground(deps: FlowStatusDeps, flowId: string): void {
  setImmediate(async () => {
    try {
      const notice = await latestNotice(deps.db, flowId);
      if (notice && notice.finishedAt === null) await startFlowStatusWorkflow(deps.workflows, flowId, notice.id);
    } catch (err) {
      deps.log.warn(
        { err: (err as Error).message, flowId },
        'telling running journeys about a status change failed to start; it will be retried',
      );
    }
  });
}

/** One pass: starts (or signals) the workflow of every flow with an unfinished notice; how many. */
export async function resumeFlowStatusNotices(deps: FlowStatusDeps, limit = 20): Promise<number> {
  let started = 0;
  for (const flowId of await flowsWithPendingNotices(deps.db, limit)) {
    const notice = await latestNotice(deps.db, flowId);
    if (!notice) continue;
    await startFlowStatusWorkflow(deps.workflows, flowId, notice.id);
    started += 1;
  }
  return started;
}
