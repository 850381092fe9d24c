/** Pending "tell the running journeys" jobs for flow status changes (see migration 006). */
import type { FlowStatus } from '../flows/schema';
import type { Queryable } from './pool';

export interface FlowStatusNotice {
  id: number;
  flowId: string;
  status: Exclude<FlowStatus, 'draft'>;
  afterRunId: string;
  signalled: number;
  createdAt: string;
  finishedAt: string | null;
  outcome: 'done' | 'superseded' | null;
  lastError: string | null;
}

interface NoticeRow {
  id: number;
  flow_id: string;
  status: Exclude<FlowStatus, 'draft'>;
  after_run_id: string;
  signalled: number;
  created_at: Date;
  finished_at: Date | null;
  outcome: 'done' | 'superseded' | null;
  last_error: string | null;
}

const toNotice = (r: NoticeRow): FlowStatusNotice => ({
  id: r.id,
  flowId: r.flow_id,
  status: r.status,
  afterRunId: r.after_run_id,
  signalled: r.signalled,
  createdAt: r.created_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
  outcome: r.outcome,
  lastError: r.last_error,
});

/** In the transaction that changes the status, so a committed change always has its notice. */
export async function addNotice(
  tx: Queryable,
  flowId: string,
  status: FlowStatus,
): Promise<FlowStatusNotice | undefined> {
  if (status === 'draft') return undefined; // draft flows have no journeys to tell
  const { rows } = await tx.query<NoticeRow>(
    'INSERT INTO flow_status_notices (flow_id, status) VALUES ($1, $2) RETURNING *',
    [flowId, status],
  );
  return toNotice(rows[0]);
}

export async function latestNotice(q: Queryable, flowId: string): Promise<FlowStatusNotice | undefined> {
  const { rows } = await q.query<NoticeRow>(
    'SELECT * FROM flow_status_notices WHERE flow_id = $1 ORDER BY id DESC LIMIT 1',
    [flowId],
  );
  return rows[0] && toNotice(rows[0]);
}

/** Flows with unfinished notices, oldest first. */
export async function flowsWithPendingNotices(q: Queryable, limit: number): Promise<string[]> {
  const { rows } = await q.query<{ flow_id: string }>(
    'SELECT flow_id FROM flow_status_notices WHERE finished_at IS NULL GROUP BY flow_id ORDER BY min(id) LIMIT $1',
    [limit],
  );
  return rows.map((r) => r.flow_id);
}

/** The flow's newest unfinished notice; older unfinished ones are superseded by it (only the last status counts). */
export async function takeLatestPending(q: Queryable, flowId: string): Promise<FlowStatusNotice | undefined> {
  const { rows } = await q.query<NoticeRow>(
    'SELECT * FROM flow_status_notices WHERE flow_id = $1 AND finished_at IS NULL ORDER BY id DESC LIMIT 1',
    [flowId],
  );
  if (!rows[0]) return undefined;
  await q.query(
    "UPDATE flow_status_notices SET finished_at = now(), outcome = 'superseded' WHERE flow_id = $1 AND finished_at IS NULL AND id < $2",
    [flowId, rows[0].id],
  );
  return toNotice(rows[0]);
}

export async function isSuperseded(q: Queryable, notice: FlowStatusNotice): Promise<boolean> {
  const { rows } = await q.query('SELECT 1 FROM flow_status_notices WHERE flow_id = $1 AND id > $2 LIMIT 1', [
    notice.flowId,
    notice.id,
  ]);
  return rows.length > 0;
}

export async function recordProgress(q: Queryable, id: number, afterRunId: string, signalled: number): Promise<void> {
  await q.query(
    'UPDATE flow_status_notices SET after_run_id = $2, signalled = signalled + $3, last_error = NULL WHERE id = $1',
    [id, afterRunId, signalled],
  );
}

export async function finishNotice(q: Queryable, id: number, outcome: 'done' | 'superseded'): Promise<void> {
  await q.query(
    'UPDATE flow_status_notices SET finished_at = now(), outcome = $2 WHERE id = $1 AND finished_at IS NULL',
    [id, outcome],
  );
}

export async function recordNoticeError(q: Queryable, id: number, error: string): Promise<void> {
  await q.query('UPDATE flow_status_notices SET last_error = $2 WHERE id = $1', [id, error.slice(0, 1000)]);
}

/** One page of the flow's running journeys after `afterRunId`, in run_id order (index journeys_running_by_flow_run). */
export async function runningJourneysPage(
  q: Queryable,
  flowId: string,
  afterRunId: string,
  limit: number,
): Promise<{ runId: string; workflowId: string }[]> {
  const { rows } = await q.query<{ run_id: string; workflow_id: string }>(
    "SELECT run_id, workflow_id FROM journeys WHERE flow_id = $1 AND status = 'running' AND run_id > $2 ORDER BY run_id LIMIT $3",
    [flowId, afterRunId, limit],
  );
  return rows.map((r) => ({ runId: r.run_id, workflowId: r.workflow_id }));
}
