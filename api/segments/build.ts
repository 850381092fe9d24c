/**
 * Building a new segment over the existing base, in the background: contacts in id order,
 * a chunk at a time, each chunk ONE set-based statement over contacts and events
 * (audiences/segment-sql.ts) that inserts the chunk's members (INSERT ... SELECT); chunks grow
 * until a statement takes about five seconds (see BuildOptions.statementMs). Progress (processed / total)
 * and the cursor are saved after every chunk, so a build a crashed process left resumes where
 * it stopped. Members found by the build are members from the start: they are recorded
 * (source "build") without a Segment Entered event, so creating a segment over a large base
 * does not start a flow for everyone already in it; changes after that are entries and exits.
 */
import type { WorkflowClient } from '@temporalio/client';
import { timeDirection } from '../../audiences/segment-deps';
import { buildChunkSql, flipsInRangeSql } from '../../audiences/segment-sql';
import { inTransaction, type Db } from '../../db/pool';
import {
  buildCursor,
  claimBuild,
  finishBuild,
  recordBuildProgress,
  storeClocksToArm,
  type Segment,
} from '../../db/segments';
import type { Logger } from '../../runtime/logger';
import { armPendingClocks } from '../../routing/segment-clock-arming';
import { LIVE_SEGMENTS_CACHE_MS } from '../../routing/segment-upkeep';

export interface BuildDeps {
  db: Db;
  workflows?: WorkflowClient;
  log: Logger;
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

/** A build whose builder has not saved progress for this long is presumed dead and may be resumed. */
export const BUILD_STALE_MS = 60_000;

export async function runBuild(deps: BuildDeps, segment: Segment, options: Partial<BuildOptions> = {}): Promise<void> {
  const opts = { ...DEFAULT_BUILD, ...options };
  try {
    // Until every process's list of live segments has this one (routing/segment-upkeep.ts),
    // events are upkept without it: the first chunk reads the events after that.
    await new Promise((resolve) => setTimeout(resolve, LIVE_SEGMENTS_CACHE_MS + 50));
    let cursor = (await buildCursor(deps.db, segment.id)) ?? '';
    let chunk = opts.chunk;
    for (;;) {
      const started = Date.now();
      const { rows } = await deps.db.query<{ hi: string | null; n: number }>(
        'SELECT max(id) AS hi, count(*)::int AS n FROM (SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT $2) chunk',
        [cursor, chunk],
      );
      const { hi, n } = rows[0];
      if (!hi || n === 0) break;
      const now = new Date();
      const insert = buildChunkSql(segment.condition, segment.id, now, cursor, hi);
      const lo = cursor;
      // The chunk's members and the cursor past them commit together, so a resumed build
      // neither skips nor repeats a chunk; without waiting for the WAL flush (a crash loses
      // at most the last chunks, which the resumed build computes again).
      const going = await inTransaction(deps.db, async (tx) => {
        await tx.query('SET LOCAL synchronous_commit = off');
        await tx.query(insert.text, insert.values);
        return recordBuildProgress(tx, segment.id, hi, n);
      });
      // Deleted meanwhile: stop.
      if (!going) return;
      chunk = nextChunk(opts, chunk, Date.now() - started);
      if (segment.dependencies.timeBased && opts.armClocks && deps.workflows)
        await armChunkClocks(deps, segment, now, lo, hi);
      cursor = hi;
    }
    await finishBuild(deps.db, segment.id);
  } catch (err) {
    deps.log.error({ err: (err as Error).message, segmentId: segment.id }, 'segment build failed');
    await finishBuild(deps.db, segment.id, (err as Error).message).catch(() => undefined);
  }
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

/** Resumes the build of this segment if its builder is gone (called when the segment is read). */
export async function resumeIfStale(deps: BuildDeps, segment: Segment): Promise<void> {
  if (segment.status !== 'building') return;
  const claimed = await claimBuild(deps.db, segment.id, BUILD_STALE_MS);
  if (claimed) void runBuild(deps, claimed);
}
