/**
 * Entry decisions, one per (flow, trigger event): claimed before the workflow start and
 * completed after it, so routing one stored event twice never starts two journeys for it.
 */
import type { Queryable } from './pool';

export type EntryOutcome = 'started' | 'already_in_flow' | 'refused';

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

const COLUMNS = 'flow_id, trigger_event_id, workflow_id, outcome, run_id, reason, (extract(epoch FROM now() - claimed_at) * 1000)::float8 AS claimed_ago_ms';

/** Claims the entry; when it was claimed before, returns that claim (decided or not) instead. */
export async function claimEntry(q: Queryable, e: { flowId: string; triggerEventId: number; contactId: string; workflowId: string }): Promise<{ fresh: true } | { fresh: false; entry: JourneyEntry }> {
  const inserted = await q.query(
    `INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (flow_id, trigger_event_id) DO NOTHING`,
    [e.flowId, e.triggerEventId, e.contactId, e.workflowId],
  );
  if (inserted.rowCount) return { fresh: true };
  const { rows } = await q.query<EntryRow>(`SELECT ${COLUMNS} FROM journey_entries WHERE flow_id = $1 AND trigger_event_id = $2`, [e.flowId, e.triggerEventId]);
  return { fresh: false, entry: toEntry(rows[0]) };
}

/** Takes over an undecided claim whose router is presumed dead (only if nobody did meanwhile). */
export async function takeOverEntry(q: Queryable, flowId: string, triggerEventId: number, olderThanMs: number): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE journey_entries SET claimed_at = now()
     WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome IS NULL AND claimed_at <= now() - make_interval(secs => $3 / 1000.0)`,
    [flowId, triggerEventId, olderThanMs],
  );
  return (rowCount ?? 0) > 0;
}

export async function decideEntry(q: Queryable, flowId: string, triggerEventId: number, outcome: EntryOutcome, detail: { runId?: string; reason?: string } = {}): Promise<void> {
  await q.query(
    `UPDATE journey_entries SET outcome = $3, run_id = $4, reason = $5, decided_at = now()
     WHERE flow_id = $1 AND trigger_event_id = $2 AND outcome IS NULL`,
    [flowId, triggerEventId, outcome, detail.runId ?? null, detail.reason ?? null],
  );
}

/**
 * A routing pass of this event failed: its undecided claims are released at once, so the next
 * pass need not wait out the lease (it asks Temporal first whether the start went through).
 */
export async function releaseEntries(q: Queryable, triggerEventId: number): Promise<void> {
  await q.query("UPDATE journey_entries SET claimed_at = 'epoch' WHERE trigger_event_id = $1 AND outcome IS NULL", [triggerEventId]);
}
