/**
 * Segments, their memberships (with history) and armed clocks. An entry or exit is written in
 * the same statement as its `Segment Entered` / `Segment Exited` event, so flows hear every
 * change exactly once; the router loop routes the events (in bulk).
 */
import { createHash } from 'node:crypto';
import { contactUpkeepSql, previewSql, type ContactEvaluation } from '../audiences/segment-sql';
import { needsClock, timeDirection, type SegmentDependencies } from '../flows/segment-deps';
import type { Condition } from '../flows/schema';
import { inTransaction, type Db, type Queryable } from './pool';
import { EVENTS } from '../flows/event-names';

/** The reserved event names of segment changes (audiences.md). */
export const SEGMENT_ENTERED = EVENTS.segmentEntered;
export const SEGMENT_EXITED = EVENTS.segmentExited;

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
  dependencies: {
    events: r.depends_events,
    traits: r.depends_traits,
    segments: r.depends_segments,
    lists: r.depends_lists,
    consent: r.depends_consent,
    timeBased: r.time_based,
  },
  status: r.status,
  total: r.total,
  processed: r.processed,
  buildError: r.build_error,
  createdAt: r.created_at.toISOString(),
  readyAt: r.ready_at?.toISOString() ?? null,
});

/** Inserts a new segment (status building); undefined when the id is taken. */
export async function insertSegment(
  q: Queryable,
  s: { id: string; name: string; condition: Condition; dependencies: SegmentDependencies; total: number },
): Promise<Segment | undefined> {
  const d = s.dependencies;
  const { rows } = await q.query<SegmentRow>(
    `INSERT INTO segments (id, name, condition, depends_events, depends_traits, depends_segments, depends_lists, depends_consent, time_based, total)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING *`,
    [
      s.id,
      s.name,
      JSON.stringify(s.condition),
      d.events,
      d.traits,
      d.segments,
      d.lists,
      d.consent,
      d.timeBased,
      s.total,
    ],
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

/** Those of `ids` that name a segment. */
export async function knownSegmentIds(q: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await q.query<{ id: string }>('SELECT id FROM segments WHERE id = ANY($1)', [ids]);
  return new Set(rows.map((r) => r.id));
}

/** Segments defined on this one (a delete would leave them meaningless). */
export async function segmentsUsing(q: Queryable, id: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    'SELECT id FROM segments WHERE $1 = ANY(depends_segments) ORDER BY id',
    [id],
  );
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

export interface PreviewMember {
  contactId: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
}

/** How many contacts a condition matches now, and the first `sample` of them by id: a segment before it is saved. */
export async function previewSegment(
  q: Queryable,
  condition: Condition,
  now: Date,
  sample: number,
): Promise<{ count: number; sample: PreviewMember[] }> {
  const sql = previewSql(condition, now, sample);
  const [count, members] = await Promise.all([
    q.query<{ count: number }>(sql.count.text, sql.count.values),
    q.query<{ id: string; email: string | null; phone: string | null; traits: Record<string, unknown> }>(
      sql.sample.text,
      sql.sample.values,
    ),
  ]);
  return {
    count: count.rows[0].count,
    sample: members.rows.map((r) => ({ contactId: r.id, email: r.email, phone: r.phone, traits: r.traits })),
  };
}

export async function countMembers(q: Queryable, id: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND exited_at IS NULL',
    [id],
  );
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
export async function membershipsOf(
  q: Queryable,
  contactId: string,
): Promise<{ segmentId: string; enteredAt: string; exitedAt: string | null }[]> {
  const { rows } = await q.query<{ segment_id: string; entered_at: Date; exited_at: Date | null }>(
    'SELECT segment_id, entered_at, exited_at FROM segment_members WHERE contact_id = $1 ORDER BY entered_at DESC, segment_id',
    [contactId],
  );
  return rows.map((r) => ({
    segmentId: r.segment_id,
    enteredAt: r.entered_at.toISOString(),
    exitedAt: r.exited_at?.toISOString() ?? null,
  }));
}

/** Segment ids the contact is a member of now (conditions `{ segment }` in flows). */
export async function currentSegmentsOf(q: Queryable, contactId: string): Promise<string[]> {
  const { rows } = await q.query<{ segment_id: string }>(
    'SELECT segment_id FROM segment_members WHERE contact_id = $1 AND exited_at IS NULL',
    [contactId],
  );
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

/** Live segments (building or ready), in id order: the same set makes the same (prepared) statement. */
export async function liveSegments(q: Queryable): Promise<Segment[]> {
  const { rows } = await q.query<SegmentRow>("SELECT * FROM segments WHERE status <> 'failed' ORDER BY id");
  return rows.map(toSegment);
}

/** Whether an arriving fact can change this segment's memberships (the dependency index computed at save). */
export function dependsOn(segment: Segment, change: FactChange): boolean {
  const d = segment.dependencies;
  return (
    change.every === true ||
    (change.eventName !== undefined && d.events.includes(change.eventName)) ||
    (change.segmentId !== undefined && d.segments.includes(change.segmentId)) ||
    (change.traits === true && d.traits) ||
    (change.lists === true && d.lists) ||
    (change.consent === true && d.consent)
  );
}

export type ChangeSource = 'event' | 'clock';

export interface AppliedEvaluation extends ContactEvaluation {
  change: 'entered' | 'exited' | null;
  /** The contact's clock moment was stored to be armed (`storeClock`). */
  clockStored: boolean;
}

/** Segment ids in event message ids carry the creation time: a segment deleted and made again starts over. */
const messageIdPrefix = (segment: Segment) => `segment:${segment.id}.${Date.parse(segment.createdAt)}`;

/**
 * Evaluates one contact for these segments at `now` and applies what changed, in ONE statement
 * (audiences/segment-sql.ts contactUpkeepSql): each entry or exit with its event, atomically.
 * Safe to run twice: the stored membership decides, and only one writer wins an entry or an
 * exit. `storeClock`: also store the clock's moment for the arming pass (the router's upkeep;
 * the clock itself knows its next moment).
 */
export async function evaluateContact(
  db: Queryable,
  segments: readonly Segment[],
  contactId: string,
  now: Date,
  source: ChangeSource,
  causeEventId?: number,
  opts: { storeClock?: boolean } = {},
): Promise<AppliedEvaluation[]> {
  if (segments.length === 0) return [];
  const upkeep = segments.map((s) => ({
    id: s.id,
    name: s.name,
    condition: s.condition,
    messageIdPrefix: messageIdPrefix(s),
    ...timeDirection(s.condition),
  }));
  const sql = contactUpkeepSql(upkeep, contactId, now, { source, causeEventId, storeClock: opts.storeClock ?? false });
  // A named (prepared) statement: its text depends only on the segments, and planning twenty
  // compiled conditions costs more than running them. Each connection prepares it once.
  const name = `segment-upkeep-${createHash('sha1').update(sql.text).digest('hex').slice(0, 20)}`;
  const { rows } = await db.query<{
    segment_id: string;
    member: boolean;
    next_flip: Date | null;
    was: boolean;
    change: 'entered' | 'exited' | null;
    clock_stored: boolean;
  }>({
    name,
    text: sql.text,
    values: sql.values,
  });
  return rows.map((r) => ({
    segmentId: r.segment_id,
    member: r.member,
    nextFlip: r.next_flip,
    was: r.was,
    change: r.change,
    clockStored: r.clock_stored,
  }));
}

/**
 * Clocks to arm from a build chunk (contacts and their moments), in one statement: stored with
 * `arm_pending` where they come earlier than the moment stored; the arming pass signals them.
 */
export async function storeClocksToArm(q: Queryable, sql: { text: string; values: unknown[] }): Promise<number> {
  const { rowCount } = await q.query(
    `WITH due AS (${sql.text})
     INSERT INTO segment_clocks (contact_id, due_at, arm_pending) SELECT id, due, true FROM due
     ON CONFLICT (contact_id) DO UPDATE SET due_at = EXCLUDED.due_at, arm_pending = true
       WHERE NOT (segment_clocks.due_at > $1::timestamptz AND segment_clocks.due_at <= EXCLUDED.due_at)`,
    sql.values,
  );
  return rowCount ?? 0;
}

/** Clocks stored to be armed (the oldest moments first: they matter soonest). */
export async function clocksToArm(q: Queryable, limit: number): Promise<{ contactId: string; dueAt: Date }[]> {
  const { rows } = await q.query<{ contact_id: string; due_at: Date }>(
    'SELECT contact_id, due_at FROM segment_clocks WHERE arm_pending ORDER BY due_at LIMIT $1',
    [limit],
  );
  return rows.map((r) => ({ contactId: r.contact_id, dueAt: r.due_at }));
}

/** Temporal has these clocks at these moments; a moment brought earlier meanwhile stays pending. */
export async function recordClocksArmed(
  q: Queryable,
  armed: readonly { contactId: string; dueAt: Date }[],
): Promise<void> {
  if (armed.length === 0) return;
  await q.query(
    `UPDATE segment_clocks k SET arm_pending = false FROM unnest($1::text[], $2::timestamptz[]) AS a(contact_id, due_at)
     WHERE k.contact_id = a.contact_id AND date_trunc('milliseconds', k.due_at) = a.due_at AND k.arm_pending`,
    [armed.map((a) => a.contactId), armed.map((a) => a.dueAt)],
  );
}

/**
 * The clock woke and knows its next moment (or has none: the row goes). An earlier moment
 * stored meanwhile and not armed yet stays, to be armed.
 */
export async function recordClockNext(q: Queryable, contactId: string, dueAt: Date | null): Promise<void> {
  if (dueAt === null)
    await q.query('DELETE FROM segment_clocks WHERE contact_id = $1 AND NOT arm_pending', [contactId]);
  else
    await q.query(
      `INSERT INTO segment_clocks (contact_id, due_at) VALUES ($1, $2) ON CONFLICT (contact_id) DO UPDATE SET
         due_at = CASE WHEN segment_clocks.arm_pending AND segment_clocks.due_at < EXCLUDED.due_at THEN segment_clocks.due_at ELSE EXCLUDED.due_at END,
         arm_pending = segment_clocks.arm_pending AND segment_clocks.due_at < EXCLUDED.due_at`,
      [contactId, dueAt],
    );
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

export async function buildCursor(q: Queryable, id: string): Promise<string | null> {
  const { rows } = await q.query<{ build_cursor: string | null }>('SELECT build_cursor FROM segments WHERE id = $1', [
    id,
  ]);
  return rows[0]?.build_cursor ?? null;
}

/** The next `limit` contacts past `cursor` in id order: the last one's id (null when none are left) and how many. */
export async function nextContactChunk(
  q: Queryable,
  cursor: string,
  limit: number,
): Promise<{ hi: string | null; n: number }> {
  const { rows } = await q.query<{ hi: string | null; n: number }>(
    `SELECT max(id) AS hi, count(*)::int AS n
       FROM (SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT $2) chunk`,
    [cursor, limit],
  );
  return rows[0];
}

/**
 * One chunk of a build: `insert` (audiences/segment-sql.ts buildChunkSql) adds the chunk's members, and the cursor
 * moves past them, in one transaction, so a resumed build neither skips nor repeats a chunk; without waiting for
 * the WAL flush (a crash loses at most the last chunks, which the resumed build computes again). False when the
 * segment is gone (deleted meanwhile).
 */
export async function commitBuildChunk(
  db: Db,
  id: string,
  insert: { text: string; values: unknown[] },
  cursor: string,
  processed: number,
): Promise<boolean> {
  return inTransaction(db, async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = off');
    await tx.query(insert.text, insert.values);
    return recordBuildProgress(tx, id, cursor, processed);
  });
}

/** Progress after a chunk; false when the segment is gone (deleted meanwhile). */
export async function recordBuildProgress(
  q: Queryable,
  id: string,
  cursor: string,
  processed: number,
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE segments SET build_cursor = $2, processed = processed + $3 WHERE id = $1 AND status = 'building'`,
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
