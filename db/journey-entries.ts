/**
 * Entry decisions, one per (flow, trigger event): claimed before the workflow start and
 * completed after it, so routing one stored event twice never starts two journeys for it.
 */
import type { JourneyStart } from './journeys';
import type { Queryable } from './pool';

/** `failed`: Temporal refused the start for good (its message in `reason`; see routing/dead-letters.ts). */
export type EntryOutcome = 'started' | 'already_in_flow' | 'refused' | 'failed';

export interface JourneyEntry {
  flowId: string;
  triggerEventId: number;
  workflowId: string;
  outcome: EntryOutcome | null;
  runId: string | null;
  reason: string | null;
  /** How long ago the claim was made or taken over (ms). */
  claimedAgoMs: number;
}

interface EntryRow {
  flow_id: string;
  trigger_event_id: number;
  workflow_id: string;
  outcome: EntryOutcome | null;
  run_id: string | null;
  reason: string | null;
  claimed_ago_ms: number;
}

const toEntry = (r: EntryRow): JourneyEntry => ({
  flowId: r.flow_id,
  triggerEventId: r.trigger_event_id,
  workflowId: r.workflow_id,
  outcome: r.outcome,
  runId: r.run_id,
  reason: r.reason,
  claimedAgoMs: Number(r.claimed_ago_ms),
});

const COLUMNS =
  'flow_id, trigger_event_id, workflow_id, outcome, run_id, reason, (extract(epoch FROM now() - claimed_at) * 1000)::float8 AS claimed_ago_ms';

/** Claims the entry; when it was claimed before, returns that claim (decided or not) instead. */
export async function claimEntry(
  q: Queryable,
  e: { flowId: string; triggerEventId: number; contactId: string; workflowId: string },
): Promise<{ fresh: true } | { fresh: false; entry: JourneyEntry }> {
  const inserted = await q.query(
    `INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (flow_id, trigger_event_id) DO NOTHING`,
    [e.flowId, e.triggerEventId, e.contactId, e.workflowId],
  );
  if (inserted.rowCount) return { fresh: true };
  const { rows } = await q.query<EntryRow>(
    `SELECT ${COLUMNS} FROM journey_entries WHERE flow_id = $1 AND trigger_event_id = $2`,
    [e.flowId, e.triggerEventId],
  );
  return { fresh: false, entry: toEntry(rows[0]) };
}

/**
 * `claimEntry` and, when the claim is fresh, the journey's `starting` row, in one round trip:
 * for an entry whose rules need nothing from the database (nothing can refuse it any more).
 * When the entry was claimed before, nothing is written: the caller goes the long way.
 */
export async function claimEntryWithStartingRow(q: Queryable, j: Omit<JourneyStart, 'runId'>): Promise<boolean> {
  const { rows } = await q.query<{ fresh: boolean }>(
    `WITH claim AS (
       INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ($2, $5, $4, $1)
       ON CONFLICT (flow_id, trigger_event_id) DO NOTHING RETURNING 1),
     starting AS (
       INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, listens, started_at, journey_key, status)
       SELECT NULL, $1, $2, $3, $4, $5, $6, $7, $8, $9, 'starting' FROM claim
       WHERE NOT EXISTS (SELECT 1 FROM journeys WHERE flow_id = $2 AND trigger_event_id = $5))
     SELECT EXISTS (SELECT 1 FROM claim) AS fresh`,
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
  return rows[0].fresh;
}

/** Takes over an undecided claim whose router is presumed dead (only if nobody did meanwhile). */
export async function takeOverEntry(
  q: Queryable,
  flowId: string,
  triggerEventId: number,
  olderThanMs: number,
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE journey_entries SET claimed_at = now()
     WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome IS NULL AND claimed_at <= now() - make_interval(secs => $3 / 1000.0)`,
    [flowId, triggerEventId, olderThanMs],
  );
  return (rowCount ?? 0) > 0;
}

export async function decideEntry(
  q: Queryable,
  flowId: string,
  triggerEventId: number,
  outcome: EntryOutcome,
  detail: { runId?: string; reason?: string } = {},
): Promise<void> {
  await q.query(
    `UPDATE journey_entries SET outcome = $3, run_id = $4, reason = $5, decided_at = now()
     WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome IS NULL`,
    [flowId, triggerEventId, outcome, detail.runId ?? null, detail.reason ?? null],
  );
}

/**
 * The start went through, in one round trip: the `starting` row gets its run id (unless the
 * journey already ended and recorded itself under it) and the entry is decided as started.
 */
export async function recordEntryStarted(
  q: Queryable,
  flowId: string,
  triggerEventId: number,
  runId: string,
): Promise<void> {
  await q.query(
    `WITH started AS (
       UPDATE journeys SET run_id = $3, status = 'running'
       WHERE flow_id = $1 AND trigger_event_id = $2 AND status = 'starting'
         AND NOT EXISTS (SELECT 1 FROM journeys WHERE run_id = $3))
     UPDATE journey_entries SET outcome = 'started', run_id = $3, reason = NULL, decided_at = now()
     WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome IS NULL`,
    [flowId, triggerEventId, runId],
  );
}

/**
 * A routing pass of this event failed: its undecided claims are released at once, so the next
 * pass need not wait out the lease (it asks Temporal first whether the start went through).
 */
export async function releaseEntries(q: Queryable, triggerEventId: number): Promise<void> {
  await q.query("UPDATE journey_entries SET claimed_at = 'epoch' WHERE trigger_event_id = $1 AND outcome IS NULL", [
    triggerEventId,
  ]);
}

/** A dead letter of a refused start is retried: the entry is decided again by the next routing. */
export async function reopenFailedEntry(q: Queryable, flowId: string, triggerEventId: number): Promise<void> {
  await q.query("DELETE FROM journey_entries WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome = 'failed'", [
    flowId,
    triggerEventId,
  ]);
}
