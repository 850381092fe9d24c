/**
 * Segments as the API defines them: a condition checked against the flow language's bounds, previewed, saved and
 * built over the existing base by its build workflow, deleted only when nothing depends on it.
 */
import { segmentConditionIssues, segmentDependencies } from '../flows/segment-deps';
import { countContacts } from '../db/contacts';
import { flowsKeepingInactivitySegment } from '../db/inactivity-flows';
import { inTransaction, type Db } from '../db/pool';
import {
  deleteSegment,
  insertSegment,
  previewSegment,
  segmentIds,
  segmentsUsing,
  type PreviewMember,
  type Segment,
} from '../db/segments';
import type { Condition } from '../flows/schema';
import { MAX_CONDITION_DEPTH, MAX_CONDITIONS_PER_FLOW, type Issue } from '../flows/validate';
import { HttpError, invalid, notFound } from './errors';
import { startSegmentBuild, type BuildDeps } from './segment-build';

/** Depth and size bounds of the flow language, and what a segment cannot mean. */
function conditionIssues(c: Condition, existing: ReadonlySet<string>, selfId?: string): Issue[] {
  const issues = segmentConditionIssues(c, existing, selfId);
  let count = 0;
  const walk = (x: Condition, path: Issue['path'], depth: number): void => {
    count += 1 + ('event' in x ? (x.where?.length ?? 0) : 0);
    if (depth > MAX_CONDITION_DEPTH)
      return void issues.push({
        path,
        message: `conditions are nested more than ${MAX_CONDITION_DEPTH} levels deep (all/any/not)`,
      });
    if ('all' in x) x.all.forEach((y, i) => walk(y, [...path, 'all', i], depth + 1));
    else if ('any' in x) x.any.forEach((y, i) => walk(y, [...path, 'any', i], depth + 1));
    else if ('not' in x) walk(x.not, [...path, 'not'], depth + 1);
  };
  walk(c, ['condition'], 1);
  if (count > MAX_CONDITIONS_PER_FLOW)
    issues.push({
      path: ['condition'],
      message: `the condition has ${count} parts; at most ${MAX_CONDITIONS_PER_FLOW} are allowed`,
    });
  return issues;
}

/** The count and a sample of the contacts a condition matches now; 400 naming the part of it that is invalid. */
export async function previewCondition(
  db: Db,
  condition: Condition,
  sample: number,
): Promise<{ count: number; sample: PreviewMember[] }> {
  const issues = conditionIssues(condition, await segmentIds(db));
  if (issues.length) throw invalid(issues, 'condition is invalid');
  return previewSegment(db, condition, new Date(), sample);
}

/**
 * The segment's row, status building, with the base it will walk as its progress total (counted in the same
 * transaction); undefined when the id is taken.
 */
export async function insertSegmentOverBase(
  db: Db,
  s: { id: string; name: string; condition: Condition },
): Promise<Segment | undefined> {
  return inTransaction(db, async (tx) =>
    insertSegment(tx, { ...s, dependencies: segmentDependencies(s.condition), total: await countContacts(tx) }),
  );
}

/** A new segment, its build started; 400 for an invalid condition, 409 when the id is taken. */
export async function createSegment(
  deps: BuildDeps,
  input: { id: string; name: string; condition: Condition },
): Promise<Segment> {
  const issues = conditionIssues(input.condition, await segmentIds(deps.db), input.id);
  if (issues.length) throw invalid(issues, 'segment is invalid');
  const segment = await insertSegmentOverBase(deps.db, input);
  if (!segment)
    throw new HttpError(
      409,
      'segment_exists',
      `segment "${input.id}" exists; segments are not edited in place: delete it or use another id`,
    );
  try {
    await startSegmentBuild(deps.workflows, segment.id, true);
  } catch (err) {
    // No build, no segment: nothing was accepted, the client retries.
    await deleteSegment(deps.db, segment.id);
    throw err;
  }
  return segment;
}

/** Deletes a segment nothing uses; 409 naming the segments or flows that use it, 404 when there is none. */
export async function deleteUnusedSegment(db: Db, id: string): Promise<void> {
  const users = await segmentsUsing(db, id);
  if (users.length)
    throw new HttpError(
      409,
      'segment_in_use',
      `segment "${id}" is used by ${users.map((u) => `"${u}"`).join(', ')}; delete those first`,
    );
  // An inactivity flow's system segment: deleting it would stop the flow without a word.
  const flows = await flowsKeepingInactivitySegment(db, id);
  if (flows.length)
    throw new HttpError(
      409,
      'segment_in_use',
      `segment "${id}" is the inactivity trigger of flow ${flows.map((f) => `"${f}"`).join(', ')}; archive those flows first`,
    );
  if (!(await deleteSegment(db, id))) throw notFound(`segment "${id}"`);
  // Clocks of its members wake, find it gone and stop (activities/segments.ts).
}
