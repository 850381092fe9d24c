import type { Queryable } from './pool';

import type { Listens } from '../flows/listens';

/**
 * `starting`: the row is written before the workflow start (so routing finds the journey at
 * once) and becomes `running` with its run id after. `terminated`, `timed_out`, `canceled`
 * and `failed` are found by reconciliation when a workflow ended without recording it.
 */
export type JourneyStatus =
  | 'starting'
  | 'running'
  | 'completed'
  | 'exited'
  | 'failed'
  | 'terminated'
  | 'timed_out'
  | 'canceled';

export interface JourneyRecord {
  /** Null while `starting`. */
  runId: string | null;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  triggerEventId: number | null;
  status: JourneyStatus;
  exitReason: string | null;
  exitDetail: unknown;
  currentStep: string | null;
  journeyKey: string | null;
  steps: unknown;
  /** Per event name, the property paths the journey reads (null: rows from before slim signals). */
  listens: Listens | null;
  startedAt: string;
  endedAt: string | null;
}

interface JourneyRow {
  run_id: string | null;
  workflow_id: string;
  flow_id: string;
  flow_version: number;
  contact_id: string;
  trigger_event_id: number | null;
  status: JourneyStatus;
  exit_reason: string | null;
  exit_detail: unknown;
  current_step: string | null;
  journey_key: string | null;
  steps: unknown;
  listens: Listens | null;
  started_at: Date;
  ended_at: Date | null;
}

const toJourney = (r: JourneyRow): JourneyRecord => ({
  runId: r.run_id,
  workflowId: r.workflow_id,
  flowId: r.flow_id,
  flowVersion: r.flow_version,
  contactId: r.contact_id,
  triggerEventId: r.trigger_event_id,
  status: r.status,
  exitReason: r.exit_reason,
  exitDetail: r.exit_detail,
  currentStep: r.current_step,
  journeyKey: r.journey_key,
  steps: r.steps,
  listens: r.listens,
  startedAt: r.started_at.toISOString(),
  endedAt: r.ended_at?.toISOString() ?? null,
});

export interface JourneyStart {
  runId: string;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  triggerEventId: number;
  listensTo: string[];
  listens: Listens;
  startedAt: string;
  journeyKey: string | null;
}

/** A running journey found in Temporal without its row (recovered from its memo). */
export async function recordJourneyStart(q: Queryable, j: JourneyStart): Promise<void> {
  await q.query(
    `INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, listens, started_at, journey_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_id) DO NOTHING`,
    [
      j.runId,
      j.workflowId,
      j.flowId,
      j.flowVersion,
      j.contactId,
      j.triggerEventId,
      j.listensTo,
      JSON.stringify(j.listens),
      j.startedAt,
      j.journeyKey,
    ],
  );
}

/**
 * The row of a journey about to start (status `starting`, no run id): written before the
 * workflow start so an event routed meanwhile finds it. Kept if a crashed attempt left it.
 */
export async function recordJourneyStarting(q: Queryable, j: Omit<JourneyStart, 'runId'>): Promise<void> {
  await q.query(
    `INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, listens, started_at, journey_key, status)
     SELECT NULL, $1, $2, $3, $4, $5, $6, $7, $8, $9, 'starting'
     WHERE NOT EXISTS (SELECT 1 FROM journeys WHERE flow_id = $2 AND trigger_event_id = $5)`,
    [
      j.workflowId,
      j.flowId,
      j.flowVersion,
      j.contactId,
      j.triggerEventId,
      j.listensTo,
      JSON.stringify(j.listens),
      j.startedAt,
      j.journeyKey,
    ],
  );
}

/** The start did not happen (already in flow, refused): the `starting` row goes. */
export async function dropStartingJourney(q: Queryable, flowId: string, triggerEventId: number): Promise<void> {
  await q.query("DELETE FROM journeys WHERE flow_id = $1 AND trigger_event_id = $2 AND status = 'starting'", [
    flowId,
    triggerEventId,
  ]);
}

export interface JourneyEnd extends Omit<JourneyStart, 'listensTo' | 'listens' | 'triggerEventId' | 'journeyKey'> {
  status: Exclude<JourneyStatus, 'running' | 'starting'>;
  exitReason: string | null;
  exitDetail: unknown;
  currentStep: string | null;
  /** The path the journey took (random-split branches included). */
  steps: unknown;
}

/**
 * Records how a journey ended on its row: the one with this run id, else the live row of this
 * workflow id (a `starting` row whose run id was not written yet, or a journey that continued
 * as new under another run id). Inserted only when no row exists at all.
 */
export async function recordJourneyEnd(q: Queryable, j: JourneyEnd): Promise<void> {
  const updated = await q.query(
    `WITH target AS (
       SELECT id FROM journeys
        WHERE run_id = $1 OR (workflow_id = $2 AND status IN ('starting', 'running'))
        ORDER BY (run_id IS NOT DISTINCT FROM $1) DESC, (status = 'running') DESC, started_at, id
        LIMIT 1 FOR UPDATE)
     UPDATE journeys SET run_id = COALESCE(journeys.run_id, $1), status = $3, exit_reason = $4, exit_detail = $5,
       current_step = $6, steps = $7, ended_at = COALESCE(journeys.ended_at, now())
       FROM target WHERE journeys.id = target.id`,
    [
      j.runId,
      j.workflowId,
      j.status,
      j.exitReason,
      JSON.stringify(j.exitDetail ?? null),
      j.currentStep,
      JSON.stringify(j.steps ?? null),
    ],
  );
  if (updated.rowCount) return;
  await q.query(
    `INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, started_at, status, exit_reason, exit_detail, current_step, steps, ended_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
     ON CONFLICT (run_id) DO NOTHING`,
    [
      j.runId,
      j.workflowId,
      j.flowId,
      j.flowVersion,
      j.contactId,
      j.startedAt,
      j.status,
      j.exitReason,
      JSON.stringify(j.exitDetail ?? null),
      j.currentStep,
      JSON.stringify(j.steps ?? null),
    ],
  );
}

/**
 * Live journeys of this contact (running, or starting: their row is written before the start)
 * that asked to hear about this event (see `listens_to`).
 */
export async function runningJourneysListeningTo(
  q: Queryable,
  contactId: string,
  eventName: string,
): Promise<JourneyRecord[]> {
  const { rows } = await q.query<JourneyRow>(
    "SELECT * FROM journeys WHERE contact_id = $1 AND status IN ('starting', 'running') AND $2 = ANY(listens_to) ORDER BY started_at",
    [contactId, eventName],
  );
  return rows.map(toJourney);
}

/**
 * The contact's journeys, as the API shows them: `starting` rows are not journeys yet (their
 * start may not happen), and what a journey listens to is the router's business.
 */
export async function listContactJourneys(q: Queryable, contactId: string): Promise<Omit<JourneyRecord, 'listens'>[]> {
  const { rows } = await q.query<JourneyRow>(
    "SELECT * FROM journeys WHERE contact_id = $1 AND status <> 'starting' ORDER BY started_at DESC LIMIT 500",
    [contactId],
  );
  return rows.map((r) => {
    const { listens: _listens, ...shown } = toJourney(r);
    return shown;
  });
}

/**
 * Keeps the step a running journey was last seen at (GET /v1/contacts/:id/journeys asked it live), so
 * the route still shows it when Temporal does not answer. Rows that ended keep the step they ended on.
 */
export async function rememberCurrentStep(q: Queryable, workflowId: string, step: string | null): Promise<void> {
  await q.query(
    "UPDATE journeys SET current_step = $2 WHERE workflow_id = $1 AND status = 'running' AND current_step IS DISTINCT FROM $2",
    [workflowId, step],
  );
}

export async function hasRunningJourney(q: Queryable, workflowId: string): Promise<boolean> {
  const { rows } = await q.query("SELECT 1 FROM journeys WHERE workflow_id = $1 AND status = 'running'", [workflowId]);
  return rows.length > 0;
}

/** When the contact last entered this flow (ms), for re-entry rules; keyed flows count per key (per cart). */
export async function lastJourneyStart(
  q: Queryable,
  flowId: string,
  contactId: string,
  journeyKey?: string,
): Promise<number | undefined> {
  const { rows } = await q.query<{ at: Date | null }>(
    `SELECT max(started_at) AS at FROM journeys WHERE flow_id = $1 AND contact_id = $2${journeyKey === undefined ? '' : ' AND journey_key = $3'}`,
    journeyKey === undefined ? [flowId, contactId] : [flowId, contactId, journeyKey],
  );
  return rows[0]?.at?.getTime();
}

/**
 * Reconciliation: claims live rows not checked against Temporal for `staleMs` (oldest check
 * first, a page at a time). `starting` rows are left to their router for `startGraceMs`.
 */
export async function claimJourneysToCheck(
  q: Queryable,
  staleMs: number,
  startGraceMs: number,
  limit: number,
): Promise<(JourneyRecord & { id: number })[]> {
  const { rows } = await q.query<JourneyRow & { id: number }>(
    `UPDATE journeys SET checked_at = now()
     WHERE id IN (
       SELECT j.id FROM journeys j
         LEFT JOIN journey_entries e ON e.flow_id = j.flow_id AND e.trigger_event_id = j.trigger_event_id
        WHERE j.status IN ('starting', 'running')
          AND (j.checked_at IS NULL OR j.checked_at < now() - make_interval(secs => $1 / 1000.0))
          AND (j.status = 'running' OR e.claimed_at IS NULL OR e.claimed_at < now() - make_interval(secs => $2 / 1000.0))
        ORDER BY j.checked_at NULLS FIRST LIMIT $3 FOR UPDATE OF j SKIP LOCKED)
     RETURNING *`,
    [staleMs, startGraceMs, limit],
  );
  return rows.map((r) => ({ ...toJourney(r), id: r.id }));
}

/** What Temporal says about a live row whose workflow ended without recording it. */
export async function recordJourneyClosed(
  q: Queryable,
  id: number,
  status: Exclude<JourneyStatus, 'running' | 'starting' | 'exited'>,
  runId: string,
  detail: unknown,
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE journeys SET status = $2, run_id = COALESCE(run_id, $3), exit_reason = 'reconciled', exit_detail = $4, ended_at = now()
     WHERE id = $1 AND status IN ('starting', 'running')
       AND (run_id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM journeys WHERE run_id = $3))`,
    [id, status, runId, JSON.stringify(detail)],
  );
  return (rowCount ?? 0) > 0;
}

/** A `starting` row whose workflow does run (its router died before writing the run id). */
export async function recordStartingRunning(q: Queryable, id: number, runId: string): Promise<void> {
  await q.query(
    "UPDATE journeys SET status = 'running', run_id = $2 WHERE id = $1 AND status = 'starting' AND NOT EXISTS (SELECT 1 FROM journeys WHERE run_id = $2)",
    [id, runId],
  );
}

/** A `starting` row whose start never happened (its router died before starting). */
export async function dropJourneyRow(q: Queryable, id: number): Promise<void> {
  await q.query("DELETE FROM journeys WHERE id = $1 AND status = 'starting'", [id]);
}
