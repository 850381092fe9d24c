/**
 * The flow-status workflow's activity (workflows/flow-status.ts): runs the flow's newest pending
 * notice, telling its running journeys page by page (signals through the worker's client) with
 * the progress saved after each page, so a retry resumes after the last page told. Only one
 * runs per flow: the flow's workflow runs one activity at a time.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import {
  finishNotice,
  isSuperseded,
  recordNoticeError,
  recordProgress,
  runningJourneysPage,
  takeLatestPending,
  type FlowStatusNotice,
} from '../db/flow-status-notices';
import type { Db } from '../db/pool';
import { flowStatusSignal } from '../flows/journey-messages';

const PAGE = 200;
const IN_FLIGHT = 16;

export function createFlowStatusActivities(db: Db) {
  return {
    async tellFlowJourneys(req: { flowId: string }): Promise<{ signalled: number }> {
      const ctx = Context.current();
      let signalled = 0;
      // A change made while one notice runs leaves a newer one: run until none is pending.
      for (
        let notice = await takeLatestPending(db, req.flowId);
        notice;
        notice = await takeLatestPending(db, req.flowId)
      ) {
        signalled += await runNotice(db, ctx.client.workflow, notice, () => ctx.heartbeat());
      }
      return { signalled };
    },
  };
}

export type FlowStatusActivities = ReturnType<typeof createFlowStatusActivities>;

async function runNotice(
  db: Db,
  workflows: WorkflowClient,
  notice: FlowStatusNotice,
  heartbeat: () => void,
): Promise<number> {
  let after = notice.afterRunId;
  let signalled = 0;
  try {
    for (;;) {
      if (await isSuperseded(db, notice)) {
        await finishNotice(db, notice.id, 'superseded');
        return signalled;
      }
      const page = await runningJourneysPage(db, notice.flowId, after, PAGE);
      if (page.length === 0) break;
      let inPage = 0;
      const failures: Error[] = [];
      for (let i = 0; i < page.length; i += IN_FLIGHT) {
        await Promise.all(
          page.slice(i, i + IN_FLIGHT).map(async (j) => {
            try {
              await workflows.getHandle(j.workflowId).signal(flowStatusSignal, { status: notice.status });
              inPage += 1;
            } catch (err) {
              // A journey that ended since the page was read needs nothing.
              if (!(err instanceof WorkflowNotFoundError)) failures.push(err as Error);
            }
          }),
        );
      }
      // Every signal of the page failed: Temporal is unreachable, fail the attempt (retried,
      // resuming after the last page saved). A few journeys refusing (one over its signal
      // limit) must not hold up the others: the send guard reads the status from the database.
      if (failures.length === page.length) throw failures[0];
      after = page[page.length - 1].runId;
      await recordProgress(db, notice.id, after, inPage);
      signalled += inPage;
      heartbeat();
    }
    await finishNotice(db, notice.id, 'done');
    return signalled;
  } catch (err) {
    await recordNoticeError(db, notice.id, (err as Error).message).catch(() => undefined);
    throw err;
  }
}
