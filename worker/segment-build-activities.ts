/**
 * Building a new segment over the existing base, as an activity of the segment's build workflow
 * (workflows/segment-build.ts; here, not in activities/, as it arms segment clocks through routing/):
 * contacts in id order,
 * a chunk at a time, each chunk ONE set-based statement over contacts and events
 * (audiences/segment-sql.ts) that inserts the chunk's members (INSERT ... SELECT); chunks grow
 * until a statement takes about five seconds (see BuildOptions.statementMs). Progress (processed / total)
 * and the cursor are saved after every chunk, and the activity heartbeats: after a crash,
 * Temporal retries it on a live worker, which resumes at the cursor. Members found by the build are
 * members from the start: they are recorded
 * (source "build") without a Segment Entered event, so creating a segment over a large base
 * does not start a flow for everyone already in it; changes after that are entries and exits.
 */
import { Context } from '@temporalio/activity';
import type { WorkflowClient } from '@temporalio/client';
import { timeDirection } from '../flows/segment-deps';
import { buildChunkSql, flipsInRangeSql } from '../audiences/segment-sql';
import type { Db } from '../db/pool';
import {
  buildCursor,
  commitBuildChunk,
  finishBuild,
  getSegment,
  nextContactChunk,
  storeClocksToArm,
  type Segment,
} from '../db/segments';
import type { Logger } from '../runtime/logger';
import { armPendingClocks } from '../routing/segment-clock-arming';
import type { SegmentBuildActivities } from '../workflows/segment-build';

export interface BuildDeps {
  db: Db;
  workflows?: WorkflowClient;
  log?: Logger;
}

export interface BuildOptions {
  /** Contacts in the first statement; the next ones grow or shrink to take about `statementMs`. */
  chunk: number;
  /**
   * What one chunk's statement should take. A chunk of contacts still reads the events of the
   * whole table (they are stored in time order, not by contact), so fewer, larger chunks cost
   * less in all; a few seconds keeps progress moving and stays well below the statement timeout.
   */
  statementMs: number;
  /** Contacts per statement at most. */
  maxChunk: number;
  /** Arm the clocks of time-based memberships (false: the bench measures the build alone). */
  armClocks: boolean;
}

export const DEFAULT_BUILD: BuildOptions = { chunk: 50_000, statementMs: 5_000, maxChunk: 500_000, armClocks: true };

/**
 * The next chunk's size from the last one's time: towards `statementMs`, at most 8 times larger or 4 times smaller at
 * once.
 */
export function nextChunk(
  opts: Pick<BuildOptions, 'statementMs' | 'maxChunk'>,
  chunk: number,
  elapsedMs: number,
): number {
  const scaled = Math.round((chunk * opts.statementMs) / Math.max(1, elapsedMs));
  return Math.max(1, Math.min(opts.maxChunk, chunk * 8, Math.max(Math.ceil(chunk / 4), scaled)));
}

/**
 * Builds the segment from its saved cursor to the end: 'ready', or 'deleted' when the segment
 * went away meanwhile. Throws what fails (the activity is retried; the workflow records a
 * build that keeps failing). `onChunk` runs after each committed chunk.
 */
export async function runBuild(
  deps: BuildDeps,
  segment: Segment,
  options: Partial<BuildOptions> = {},
  onChunk: (cursor: string) => void = () => undefined,
): Promise<'ready' | 'deleted'> {
  const opts = { ...DEFAULT_BUILD, ...options };
  let cursor = (await buildCursor(deps.db, segment.id)) ?? '';
  let chunk = opts.chunk;
  for (;;) {
    const started = Date.now();
    const { hi, n } = await nextContactChunk(deps.db, cursor, chunk);
    if (!hi || n === 0) break;
    const now = new Date();
    const insert = buildChunkSql(segment.condition, segment.id, now, cursor, hi);
    const lo = cursor;
    // The chunk's members and the cursor past them commit together (resumable without a gap or a repeat).
    const going = await commitBuildChunk(deps.db, segment.id, insert, hi, n);
    if (!going) return 'deleted';
    chunk = nextChunk(opts, chunk, Date.now() - started);
    if (segment.dependencies.timeBased && opts.armClocks && deps.workflows)
      await armChunkClocks(deps, segment, now, lo, hi);
    cursor = hi;
    onChunk(cursor);
  }
  await finishBuild(deps.db, segment.id);
  return 'ready';
}

/** How often a build heartbeats while a chunk's statement runs (its heartbeat timeout is 30 s). */
const HEARTBEAT_MS = 5_000;

export function createSegmentBuildActivities(db: Db): SegmentBuildActivities {
  return {
    /** The whole build, resumable: a retry (after a crash, a lost heartbeat) starts at the cursor. */
    async buildSegment(req: { segmentId: string }): Promise<{ outcome: 'ready' | 'deleted' }> {
      const segment = await getSegment(db, req.segmentId);
      if (!segment) return { outcome: 'deleted' };
      // Finished by an attempt whose completion was lost: nothing to do again.
      if (segment.status !== 'building') return { outcome: 'ready' };
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
      try {
        const outcome = await runBuild({ db, workflows: ctx.client.workflow }, segment, {}, (cursor) =>
          ctx.heartbeat({ cursor }),
        );
        return { outcome };
      } finally {
        clearInterval(beat);
      }
    },
    /** A build that kept failing: the segment says so (GET shows the error). */
    async failSegmentBuild(req: { segmentId: string; error: string }): Promise<void> {
      await finishBuild(db, req.segmentId, req.error);
    },
  };
}

async function armChunkClocks(deps: BuildDeps, segment: Segment, now: Date, lo: string, hi: string): Promise<void> {
  const direction = timeDirection(segment.condition);
  if (!direction.canRise && !direction.canFall) return;
  // Only the side time can move: members of a segment that can only lose them, and so on.
  const sql = flipsInRangeSql(
    segment.condition,
    now,
    lo,
    hi,
    direction.canRise && direction.canFall ? undefined : direction.canFall,
  );
  // The chunk's clock moments in one statement; the arming pass signals them (the build waits
  // for it, so a build does not run ahead of Temporal by more than a chunk).
  if ((await storeClocksToArm(deps.db, sql)) > 0)
    await armPendingClocks({ db: deps.db, workflows: deps.workflows!, log: deps.log });
}
