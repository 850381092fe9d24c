/**
 * Segments, their memberships (with history) and armed clocks. An entry or exit is written in
 * the same transaction as its `Segment Entered` / `Segment Exited` event, so flows hear every
 * change exactly once; the router loop routes the event.
 */
import { createHash } from 'node:crypto';
import { contactEvaluationSql, type ContactEvaluation } from '../audiences/segment-sql';
import { needsClock, timeDirection, type SegmentDependencies } from '../audiences/segment-deps';
import type { Condition } from '../flows/schema';
import { insertEvent } from './events';
import { inTransaction, type Db, type Queryable } from './pool';

/** The reserved event names of segment changes (audiences.md). */
export const SEGMENT_ENTERED = 'Segment Entered';
export const SEGMENT_EXITED = 'Segment Exited';

export type SegmentStatus = 'building' | 'ready' | 'failed';

export interface Segment {
  id: string;
  name: string;
  condition: Condition;
  dependencies: SegmentDependencies;
  status: SegmentStatus;
  total: number;
  processed: number;
  buildError: string | null;
  createdAt: string;
  readyAt: string | null;
}

interface SegmentRow {
  id: string;
  name: string;
  condition: Condition;
  depends_events: string[];
  depends_traits: boolean;
  depends_segments: string[];
  depends_lists: boolean;
  depends_consent: boolean;
  time_based: boolean;
  status: SegmentStatus;
  total: number;
  processed: number;
  build_error: string | null;
  created_at: Date;
  ready_at: Date | null;
}

const toSegment = (r: SegmentRow): Segment => ({
  id: r.id,
  name: r.name,
  condition: r.condition,
  dependencies: { events: r.depends_events, traits: r.depends_traits, segments: r.depends_segments, lists: r.depends_lists, consent: r.depends_consent, timeBased: r.time_based },
  status: r.status,
  total: r.total,
  processed: r.processed,
  buildError: r.build_error,
  createdAt: r.created_at.toISOString(),
  readyAt: r.ready_at?.toISOString() ?? null,
});

/** Inserts a new segment (status building); undefined when the id is taken. */
export async function insertSegment(q: Queryable, s: { id: string; name: string; condition: Condition; dependencies: SegmentDependencies; total: number }): Promise<Segment | undefined> {
  const d = s.dependencies;
  const { rows } = await q.query<SegmentRow>(
    `INSERT INTO segments (id, name, condition, depends_events, depends_traits, depends_segments, depends_lists, depends_consent, time_based, total, build_claimed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) ON CONFLICT (id) DO NOTHING RETURNING *`,
    [s.id, s.name, JSON.stringify(s.condition), d.events, d.traits, d.segments, d.lists, d.consent, d.timeBased, s.total],
  );
  return rows[0] && toSegment(rows[0]);
}

export async function getSegment(q: Queryable, id: string): Promise<Segment | undefined> {
  const { rows } = await q.query<SegmentRow>('SELECT * FROM segments WHERE id = $1', [id]);
  return rows[0] && toSegment(rows[0]);
}

export async function listSegments(q: Queryable): Promise<Segment[]> {
  const { rows } = await q.query<SegmentRow>('SELECT * FROM segments ORDER BY id');
  return rows.map(toSegment);
}

export async function segmentIds(q: Queryable): Promise<Set<string>> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM segments');
  return new Set(rows.map((r) => r.id));
}

/** Segments defined on this one (a delete would leave them meaningless). */
export async function segmentsUsing(q: Queryable, id: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM segments WHERE $1 = ANY(depends_segments) ORDER BY id', [id]);
  return rows.map((r) => r.id);
}

/** The segment, its memberships and clock rows, in one transaction (no foreign keys: see 013_segments.sql). */
export async function deleteSegment(db: Db, id: string): Promise<boolean> {
  return inTransaction(db, async (tx) => {
    const deleted = ((await tx.query('DELETE FROM segments WHERE id = $1', [id])).rowCount ?? 0) > 0;
    await tx.query('DELETE FROM segment_members WHERE segment_id = $1', [id]);
    return deleted;
  });
}

export async function countMembers(q: Queryable, id: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND exited_at IS NULL', [id]);
  return rows[0].n;
}

export interface Member {
  contactId: string;
  enteredAt: string;
  source: string;
}

/** Current members in contact id order, after `cursor` (the last id of the previous page). */
export async function listMembers(q: Queryable, id: string, limit: number, cursor?: string): Promise<Member[]> {
  const { rows } = await q.query<{ contact_id: string; entered_at: Date; source: string }>(
    `SELECT contact_id, entered_at, source FROM segment_members
     WHERE segment_id = $1 AND exited_at IS NULL AND ($2::text IS NULL OR contact_id > $2) ORDER BY contact_id LIMIT $3`,
    [id, cursor ?? null, limit],
  );
  return rows.map((r) => ({ contactId: r.contact_id, enteredAt: r.entered_at.toISOString(), source: r.source }));
}

/** A contact's stays in segments (current and past), newest first. */
export async function membershipsOf(q: Queryable, contactId: string): Promise<{ segmentId: string; enteredAt: string; exitedAt: string | null }[]> {
  const { rows } = await q.query<{ segment_id: string; entered_at: Date; exited_at: Date | null }>(
    'SELECT segment_id, entered_at, exited_at FROM segment_members WHERE contact_id = $1 ORDER BY entered_at DESC, segment_id',
    [contactId],
  );
  return rows.map((r) => ({ segmentId: r.segment_id, enteredAt: r.entered_at.toISOString(), exitedAt: r.exited_at?.toISOString() ?? null }));
}

/** Segment ids the contact is a member of now (conditions `{ segment }` in flows). */
export async function currentSegmentsOf(q: Queryable, contactId: string): Promise<string[]> {
  const { rows } = await q.query<{ segment_id: string }>('SELECT segment_id FROM segment_members WHERE contact_id = $1 AND exited_at IS NULL', [contactId]);
  return rows.map((r) => r.segment_id);
}

export interface FactChange {
  /** Whose arrival re-evaluates: the dependency index. */
  eventName?: string;
  /** A Segment Entered / Exited of this segment. */
  segmentId?: string;
  traits?: boolean;
  lists?: boolean;
  consent?: boolean;
  /** Every live segment (a contact whose facts changed at once). */
  every?: boolean;
}

/** Live segments (building or ready) an arriving fact can change. */
export async function segmentsDependingOn(q: Queryable, change: FactChange): Promise<Segment[]> {
  const { rows } = await q.query<SegmentRow>(
    `SELECT * FROM segments WHERE status <> 'failed' AND (
       $1::text = ANY(depends_events) OR $2::text = ANY(depends_segments)
       OR ($3 AND depends_traits) OR ($4 AND depends_lists) OR ($5 AND depends_consent) OR $6)`,
    [change.eventName ?? null, change.segmentId ?? null, change.traits ?? false, change.lists ?? false, change.consent ?? false, change.every ?? false],
  );
  return rows.map(toSegment);
}

export type ChangeSource = 'event' | 'clock';

export interface AppliedEvaluation extends ContactEvaluation {
  change: 'entered' | 'exited' | null;
}

/** Segment ids in event message ids carry the creation time: a segment deleted and made again starts over. */
const messageIdOf = (segment: Segment, contactId: string, seq: number, change: 'entered' | 'exited') =>
  `segment:${segment.id}.${Date.parse(segment.createdAt)}:${contactId}:${seq}:${change}`;

/**
 * Evaluates one contact for these segments at `now` (one statement) and applies what changed:
 * each entry or exit with its event, in one transaction per change. Safe to run twice: the
 * stored membership decides, and only one writer wins an entry or an exit.
 */
export async function evaluateContact(db: Db, segments: readonly Segment[], contactId: string, now: Date, source: ChangeSource, causeEventId?: number): Promise<AppliedEvaluation[]> {
  if (segments.length === 0) return [];
  const sql = contactEvaluationSql(segments, contactId, now);
  // A named (prepared) statement: its text depends only on the segments, and planning twenty
  // compiled conditions costs more than running them. Each connection prepares it once.
  const name = `segment-eval-${createHash('sha1').update(sql.text).digest('hex').slice(0, 20)}`;
  const { rows } = await db.query<{ segment_id: string; member: boolean; next_flip: Date | null; was: boolean }>({ name, text: sql.text, values: sql.values });
  const byId = new Map(segments.map((s) => [s.id, s]));
  const applied: AppliedEvaluation[] = [];
  for (const r of rows) {
    const segment = byId.get(r.segment_id)!;
    const evaluation: ContactEvaluation = { segmentId: r.segment_id, member: r.member, nextFlip: r.next_flip, was: r.was };
    let change: AppliedEvaluation['change'] = null;
    if (r.member !== r.was) change = await applyChange(db, segment, contactId, r.member ? 'entered' : 'exited', now, source, causeEventId);
    applied.push({ ...evaluation, change });
  }
  return applied;
}

async function applyChange(db: Db, segment: Segment, contactId: string, change: 'entered' | 'exited', now: Date, source: ChangeSource, causeEventId?: number): Promise<'entered' | 'exited' | null> {
  return inTransaction(db, async (tx) => {
    const { rows } =
      change === 'entered'
        ? await tx.query<{ seq: number }>(
            `INSERT INTO segment_members (segment_id, contact_id, seq, entered_at, source)
             SELECT $1, $2, COALESCE(max(seq), 0) + 1, $3, $4 FROM segment_members WHERE segment_id = $1 AND contact_id = $2
             HAVING EXISTS (SELECT 1 FROM segments WHERE id = $1 FOR KEY SHARE)
             ON CONFLICT DO NOTHING RETURNING seq`,
            [segment.id, contactId, now, source],
          )
        : await tx.query<{ seq: number }>(
            'UPDATE segment_members SET exited_at = $3 WHERE segment_id = $1 AND contact_id = $2 AND exited_at IS NULL RETURNING seq',
            [segment.id, contactId, now],
          );
    // Someone else applied it first (another router, the clock): nothing to tell twice.
    if (!rows[0]) return null;
    await insertEvent(
      tx,
      {
        messageId: messageIdOf(segment, contactId, rows[0].seq, change),
        type: 'track',
        contactId,
        name: change === 'entered' ? SEGMENT_ENTERED : SEGMENT_EXITED,
        properties: { segment_id: segment.id, segment_name: segment.name, source, ...(causeEventId === undefined ? {} : { cause_event_id: causeEventId }) },
        occurredAt: now.toISOString(),
      },
      { routeWithinMs: 0 },
    );
    return change;
  });
}

/** The router armed (or brought earlier) this contact's clock. */
export async function recordClockArmed(q: Queryable, contactId: string, dueAt: Date): Promise<void> {
  await q.query(
    `INSERT INTO segment_clocks (contact_id, due_at) VALUES ($1, $2)
     ON CONFLICT (contact_id) DO UPDATE SET due_at = CASE WHEN segment_clocks.due_at <= now() THEN EXCLUDED.due_at ELSE least(segment_clocks.due_at, EXCLUDED.due_at) END`,
    [contactId, dueAt],
  );
}

/** The clock woke and knows its next moment (or has none: the row goes). */
export async function recordClockNext(q: Queryable, contactId: string, dueAt: Date | null): Promise<void> {
  if (dueAt === null) await q.query('DELETE FROM segment_clocks WHERE contact_id = $1', [contactId]);
  else await q.query('INSERT INTO segment_clocks (contact_id, due_at) VALUES ($1, $2) ON CONFLICT (contact_id) DO UPDATE SET due_at = EXCLUDED.due_at', [contactId, dueAt]);
}

export async function armedClock(q: Queryable, contactId: string): Promise<Date | null> {
  const { rows } = await q.query<{ due_at: Date }>('SELECT due_at FROM segment_clocks WHERE contact_id = $1', [contactId]);
  return rows[0]?.due_at ?? null;
}

/** Live segments whose memberships can change with time alone (what a clock evaluates). */
export async function timeBasedSegments(q: Queryable): Promise<Segment[]> {
  const { rows } = await q.query<SegmentRow>("SELECT * FROM segments WHERE time_based AND status <> 'failed'");
  return rows.map(toSegment);
}

/**
 * The earliest moment among these evaluations at which waiting can change a membership (a
 * non-member of "spent 500 in 365 days" never gets in by waiting: no clock for it).
 */
export function clockDue(segments: readonly Segment[], results: readonly ContactEvaluation[]): Date | null {
  const byId = new Map(segments.map((s) => [s.id, s]));
  let due: Date | null = null;
  for (const r of results) {
    const segment = byId.get(r.segmentId);
    if (!segment || !r.nextFlip || !needsClock(timeDirection(segment.condition), r.member)) continue;
    if (!due || r.nextFlip < due) due = r.nextFlip;
  }
  return due;
}

// --- the build ------------------------------------------------------------------------------

/** Claims an unfinished build for this process (a fresh one, or one whose builder stopped renewing). */
export async function claimBuild(q: Queryable, id: string, staleMs: number): Promise<Segment | undefined> {
  const { rows } = await q.query<SegmentRow>(
    `UPDATE segments SET build_claimed_at = now() WHERE id = $1 AND status = 'building'
       AND (build_claimed_at IS NULL OR build_claimed_at < now() - make_interval(secs => $2 / 1000.0)) RETURNING *`,
    [id, staleMs],
  );
  return rows[0] && toSegment(rows[0]);
}

/** Builds a crashed process left behind. */
export async function staleBuilds(q: Queryable, staleMs: number): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM segments WHERE status = 'building' AND (build_claimed_at IS NULL OR build_claimed_at < now() - make_interval(secs => $1 / 1000.0))`,
    [staleMs],
  );
  return rows.map((r) => r.id);
}

export async function buildCursor(q: Queryable, id: string): Promise<string | null> {
  const { rows } = await q.query<{ build_cursor: string | null }>('SELECT build_cursor FROM segments WHERE id = $1', [id]);
  return rows[0]?.build_cursor ?? null;
}

/** Progress after a chunk: also renews the claim. */
export async function recordBuildProgress(q: Queryable, id: string, cursor: string, processed: number): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE segments SET build_cursor = $2, processed = processed + $3, build_claimed_at = now() WHERE id = $1 AND status = 'building'`,
    [id, cursor, processed],
  );
  return (rowCount ?? 0) > 0;
}

export async function finishBuild(q: Queryable, id: string, error?: string): Promise<void> {
  await q.query(
    `UPDATE segments SET status = $2, build_error = $3, ready_at = CASE WHEN $2 = 'ready' THEN now() END, processed = CASE WHEN $2 = 'ready' THEN total ELSE processed END WHERE id = $1`,
    [id, error ? 'failed' : 'ready', error ?? null],
  );
}
