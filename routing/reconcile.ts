/**
 * Journeys whose workflow ended without recording it (terminated or reset from the UI, timed
 * out, failed) would show "running" forever in the API and the stats. A periodic pass asks
 * Temporal about live rows not checked recently (claimed a page at a time, so several
 * processes share the work) and records what really happened. It also settles `starting`
 * rows a dead router left behind: the journey runs (its memo names the trigger) or never started.
 */
import { WorkflowNotFoundError, type WorkflowExecutionStatusName } from '@temporalio/client';
import {
  claimJourneysToCheck,
  dropJourneyRow,
  recordJourneyClosed,
  recordStartingRunning,
  type JourneyRecord,
  type JourneyStatus,
} from '../db/journeys';
import type { Logger } from '../runtime/logger';
import type { RoutingDeps } from './route-event';
import { ENTRY_CLAIM_LEASE_MS } from './route-event';

export interface ReconcileOptions {
  /** A running row is asked about again after this long. */
  staleMs: number;
  /** A `starting` row is left to its router this long. */
  startGraceMs: number;
  /** Rows per pass. */
  limit: number;
}

export const DEFAULT_RECONCILE: ReconcileOptions = {
  staleMs: 2 * 60_000,
  startGraceMs: 4 * ENTRY_CLAIM_LEASE_MS,
  limit: 100,
};

type ClosedStatus = Exclude<JourneyStatus, 'running' | 'starting' | 'exited'>;
const CLOSED: Partial<Record<WorkflowExecutionStatusName, ClosedStatus>> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CANCELLED: 'canceled',
};

/** One pass; returns how many rows changed. */
export async function reconcileJourneys(
  deps: RoutingDeps & { log: Logger },
  opts: ReconcileOptions = DEFAULT_RECONCILE,
): Promise<number> {
  const rows = await claimJourneysToCheck(deps.db, opts.staleMs, opts.startGraceMs, opts.limit);
  let changed = 0;
  for (const row of rows) {
    try {
      if (await reconcileOne(deps, row)) changed += 1;
    } catch (err) {
      deps.log.warn(
        { err: (err as Error).message, workflowId: row.workflowId },
        'could not reconcile journey; will try again',
      );
    }
  }
  return changed;
}

async function reconcileOne(
  deps: RoutingDeps & { log: Logger },
  row: JourneyRecord & { id: number },
): Promise<boolean> {
  const latest = await describe(deps, row.workflowId);
  if (row.status === 'starting') {
    // The memo names the trigger event: the start went through iff it names this row's.
    if (!latest || latest.triggerEventId !== row.triggerEventId) {
      await dropJourneyRow(deps.db, row.id);
      return true;
    }
    if (latest.status === 'RUNNING' || latest.status === 'CONTINUED_AS_NEW') {
      await recordStartingRunning(deps.db, row.id, latest.runId);
      return true;
    }
    if (!CLOSED[latest.status]) return false;
    // A row of that run exists already (the journey recorded its end on its own): this one goes.
    if (!(await closed(deps, row, latest.runId, latest.status))) await dropJourneyRow(deps.db, row.id);
    return true;
  }
  // Described by run id: the run this row is about, even if the contact re-entered since.
  const run = await describe(deps, row.workflowId, row.runId ?? undefined);
  if (!run) return recordJourneyClosed(deps.db, row.id, 'failed', row.runId ?? '', { temporalStatus: 'NOT_FOUND' });
  if (run.status === 'RUNNING') return false;
  if (run.status === 'CONTINUED_AS_NEW') {
    // The journey goes on under a newer run of the same workflow id, if that run is its own.
    if (
      latest &&
      latest.triggerEventId === row.triggerEventId &&
      (latest.status === 'RUNNING' || latest.status === 'CONTINUED_AS_NEW')
    )
      return false;
    if (latest && latest.triggerEventId === row.triggerEventId)
      return closed(deps, row, row.runId ?? latest.runId, latest.status);
    return false;
  }
  return closed(deps, row, run.runId, run.status);
}

async function closed(
  deps: RoutingDeps & { log: Logger },
  row: JourneyRecord & { id: number },
  runId: string,
  status: WorkflowExecutionStatusName,
): Promise<boolean> {
  const recorded = CLOSED[status];
  if (!recorded) return false;
  const changed = await recordJourneyClosed(deps.db, row.id, recorded, runId, { temporalStatus: status });
  if (changed)
    deps.log.info(
      { workflowId: row.workflowId, runId, status: recorded },
      'journey ended without recording it: reconciled',
    );
  return changed;
}

async function describe(
  deps: RoutingDeps,
  workflowId: string,
  runId?: string,
): Promise<{ runId: string; status: WorkflowExecutionStatusName; triggerEventId?: number } | undefined> {
  try {
    const d = await deps.workflows.getHandle(workflowId, runId).describe();
    const memo = (await d.memo) as { triggerEventId?: number } | undefined;
    return { runId: d.runId, status: d.status.name, triggerEventId: memo?.triggerEventId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
