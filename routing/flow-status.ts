/**
 * A flow's status reaches its running journeys as a signal: paused journeys hold before their
 * next send, resumed ones go on, archived ones end. (The send guard also reads the status from
 * the database, so a journey whose signal was lost still holds or ends.)
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { runningJourneysOfFlow } from '../db/journeys';
import type { FlowStatus } from '../flows/schema';
import { flowStatusSignal } from '../workflows/messages';
import type { RoutingDeps } from './route-event';

const IN_FLIGHT = 16;

export async function notifyFlowStatus(deps: RoutingDeps, flowId: string, status: FlowStatus): Promise<{ signalled: number }> {
  if (status === 'draft') return { signalled: 0 };
  const journeys = await runningJourneysOfFlow(deps.db, flowId);
  let signalled = 0;
  for (let i = 0; i < journeys.length; i += IN_FLIGHT) {
    await Promise.all(
      journeys.slice(i, i + IN_FLIGHT).map(async (j) => {
        try {
          await deps.workflows.getHandle(j.workflowId).signal(flowStatusSignal, { status });
          signalled += 1;
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }),
    );
  }
  return { signalled };
}
