/**
 * A flow's status reaches its running journeys as a signal: paused journeys hold before their
 * next send, resumed ones go on, archived ones end. (The send guard also reads the status from
 * the database, so a journey whose signal was lost still holds or ends.)
 *
 * The telling happens in the background, never inside the HTTP request that changed the status:
 * the change commits with a notice row, the API process runs the notice after answering, page
 * by page with its progress saved, and a periodic pass picks up notices a crashed process left.
 * One process at a time works on a flow (an advisory lock), and only the flow's newest status is
 * sent: a later change supersedes an unfinished notice, so journeys never hear "paused" after "live".
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  finishNotice,
  flowsWithPendingNotices,
  isSuperseded,
  recordNoticeError,
  recordProgress,
  runningJourneysPage,
  takeLatestPending,
  type FlowStatusNotice,
} from '../db/flow-status-notices';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { flowStatusSignal } from '../workflows/messages';
import type { RoutingDeps } from './route-event';

export interface FlowStatusDeps extends RoutingDeps {
  db: Db;
  log: Logger;
}

const PAGE = 200;
const IN_FLIGHT = 16;
// Any constant shared by every Parcours process; the second key is the flow.
const LOCK_SPACE = 72_616_373;

/** Runs the flow's pending notice (if any, and if no other process is on it). */
export async function runFlowStatusNotices(
  deps: FlowStatusDeps,
  flowId: string,
): Promise<{ signalled: number } | undefined> {
  const lockClient = await deps.db.connect();
  let locked = false;
  try {
    locked = (
      await lockClient.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
        LOCK_SPACE,
        flowId,
      ])
    ).rows[0].ok;
    if (!locked) return undefined; // another process is on it; a later pass finds what it leaves
    let signalled = 0;
    // A change made while one notice runs leaves a newer one: run until none is pending.
    for (
      let notice = await takeLatestPending(deps.db, flowId);
      notice;
      notice = await takeLatestPending(deps.db, flowId)
    ) {
      signalled += await runNotice(deps, notice);
    }
    return { signalled };
  } finally {
    if (locked)
      await lockClient
        .query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, flowId])
        .catch(() => undefined);
    lockClient.release();
  }
}

async function runNotice(deps: FlowStatusDeps, notice: FlowStatusNotice): Promise<number> {
  let after = notice.afterRunId;
  let signalled = 0;
  try {
    for (;;) {
      if (await isSuperseded(deps.db, notice)) {
        await finishNotice(deps.db, notice.id, 'superseded');
        return signalled;
      }
      const page = await runningJourneysPage(deps.db, notice.flowId, after, PAGE);
      if (page.length === 0) break;
      let inPage = 0;
      const failures: Error[] = [];
      for (let i = 0; i < page.length; i += IN_FLIGHT) {
        await Promise.all(
          page.slice(i, i + IN_FLIGHT).map(async (j) => {
            try {
              await deps.workflows.getHandle(j.workflowId).signal(flowStatusSignal, { status: notice.status });
              inPage += 1;
            } catch (err) {
              // A journey that ended since the page was read needs nothing.
              if (!(err instanceof WorkflowNotFoundError)) failures.push(err as Error);
            }
          }),
        );
      }
      // Every signal of the page failed: Temporal is unreachable, stop and resume later. A few
      // journeys refusing (one over its signal limit) must not hold up the others: the send
      // guard reads the status from the database for them anyway.
      if (failures.length === page.length) throw failures[0];
      if (failures.length > 0)
        deps.log.warn(
          { flowId: notice.flowId, failed: failures.length, err: failures[0].message },
          'some journeys could not be told the flow status',
        );
      after = page[page.length - 1].runId;
      await recordProgress(deps.db, notice.id, after, inPage);
      signalled += inPage;
    }
    await finishNotice(deps.db, notice.id, 'done');
    return signalled;
  } catch (err) {
    // Left unfinished with its progress: the next pass resumes after the last saved page.
    await recordNoticeError(deps.db, notice.id, (err as Error).message).catch(() => undefined);
    throw err;
  }
}

/** After the API has answered: runs the notice now, logging (not throwing) a failure; the periodic pass retries. */
export function notifyInBackground(deps: FlowStatusDeps, flowId: string): void {
  setImmediate(() => {
    runFlowStatusNotices(deps, flowId).catch((err: Error) =>
      deps.log.warn(
        { err: err.message, flowId },
        'telling running journeys about a status change failed; it will be retried',
      ),
    );
  });
}

/** One pass over every flow with an unfinished notice (left by a crash or a failure). */
export async function resumeFlowStatusNotices(deps: FlowStatusDeps, limit = 20): Promise<number> {
  let signalled = 0;
  for (const flowId of await flowsWithPendingNotices(deps.db, limit)) {
    signalled += (await runFlowStatusNotices(deps, flowId))?.signalled ?? 0;
  }
  return signalled;
}

/** Runs `resumeFlowStatusNotices` every `intervalMs` until the returned function is called. */
export function startFlowStatusNotifier(deps: FlowStatusDeps, intervalMs = 10_000): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    resumeFlowStatusNotices(deps)
      .catch((err: Error) => deps.log.warn({ err: err.message }, 'flow status notice pass failed'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
