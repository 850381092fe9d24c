/**
 * Routing dead letters: the parts of events that could not be routed (a start or signal
 * Temporal refused for good, or one that failed through the event's whole failure budget).
 * The event itself is marked routed, so the contact's later events go on; the letter keeps
 * what failed until it is retried through the API.
 */
import type { Queryable } from './pool';

export type DeadLetterKind = 'start' | 'signal' | 'event';

export interface NewDeadLetter {
  eventId: number;
  contactId: string;
  kind: DeadLetterKind;
  flowId: string | null;
  workflowId: string | null;
  error: string;
  attempts: number;
}

export interface DeadLetter extends NewDeadLetter {
  id: number;
  eventName: string | null;
  createdAt: string;
  retriedAt: string | null;
  retries: number;
  resolvedAt: string | null;
}

interface DeadLetterRow {
  id: string;
  event_id: string;
  contact_id: string;
  kind: DeadLetterKind;
  flow_id: string | null;
  workflow_id: string | null;
  error: string;
  attempts: number;
  event_name: string | null;
  created_at: Date;
  retried_at: Date | null;
  retries: number;
  resolved_at: Date | null;
}

const toDeadLetter = (r: DeadLetterRow): DeadLetter => ({
  id: Number(r.id),
  eventId: Number(r.event_id),
  eventName: r.event_name,
  contactId: r.contact_id,
  kind: r.kind,
  flowId: r.flow_id,
  workflowId: r.workflow_id,
  error: r.error,
  attempts: r.attempts,
  createdAt: r.created_at.toISOString(),
  retriedAt: r.retried_at?.toISOString() ?? null,
  retries: r.retries,
  resolvedAt: r.resolved_at?.toISOString() ?? null,
});

const SELECT = `SELECT d.*, e.name AS event_name FROM routing_dead_letters d JOIN events e ON e.id = d.event_id`;

/** Letters the parts; a part already lettered and still open is left as it is. Returns how many are new. */
export async function addDeadLetters(q: Queryable, letters: NewDeadLetter[]): Promise<number> {
  if (letters.length === 0) return 0;
  const { rowCount } = await q.query(
    `INSERT INTO routing_dead_letters (event_id, contact_id, kind, flow_id, workflow_id, error, attempts)
     SELECT * FROM jsonb_to_recordset($1::jsonb)
       AS l(event_id bigint, contact_id text, kind text, flow_id text, workflow_id text, error text, attempts int)
     ON CONFLICT (event_id, kind, (coalesce(flow_id, '')), (coalesce(workflow_id, ''))) WHERE resolved_at IS NULL
     DO NOTHING`,
    [
      JSON.stringify(
        letters.map((l) => ({
          event_id: l.eventId,
          contact_id: l.contactId,
          kind: l.kind,
          flow_id: l.flowId,
          workflow_id: l.workflowId,
          error: l.error,
          attempts: l.attempts,
        })),
      ),
    ],
  );
  return rowCount ?? 0;
}

/** Newest first; `open` only the letters not resolved by a retry. */
export async function listDeadLetters(
  q: Queryable,
  opts: { open: boolean; limit: number; beforeId?: number },
): Promise<DeadLetter[]> {
  const { rows } = await q.query<DeadLetterRow>(
    `${SELECT} WHERE ($1::boolean IS FALSE OR d.resolved_at IS NULL) AND ($2::bigint IS NULL OR d.id < $2)
     ORDER BY d.id DESC LIMIT $3`,
    [opts.open, opts.beforeId ?? null, opts.limit],
  );
  return rows.map(toDeadLetter);
}

export async function getDeadLetter(q: Queryable, id: number): Promise<DeadLetter | undefined> {
  const { rows } = await q.query<DeadLetterRow>(`${SELECT} WHERE d.id = $1`, [id]);
  return rows[0] ? toDeadLetter(rows[0]) : undefined;
}

/** Open letters, for the operator's overview (GET /v1/routing/dead-letters). */
export async function countOpenDeadLetters(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: string }>(
    'SELECT count(*) AS n FROM routing_dead_letters WHERE resolved_at IS NULL',
  );
  return Number(rows[0].n);
}

/** A retry's outcome: resolved when the part was routed, else the letter keeps the new error. */
export async function recordDeadLetterRetry(
  q: Queryable,
  id: number,
  outcome: { resolved: true } | { resolved: false; error: string },
): Promise<void> {
  await q.query(
    `UPDATE routing_dead_letters SET retried_at = now(), retries = retries + 1,
       resolved_at = CASE WHEN $2 THEN now() END, error = COALESCE($3, error)
     WHERE id = $1 AND resolved_at IS NULL`,
    [id, outcome.resolved, outcome.resolved ? null : outcome.error],
  );
}
