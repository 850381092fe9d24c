/**
 * Segments: `POST /v1/segments` (built over the existing base in the background, with
 * progress), `GET /v1/segments`, `GET /v1/segments/:id` (count and members, cursor-paginated),
 * `DELETE /v1/segments/:id`, `POST /v1/segments/preview` (count and a sample before saving).
 */
import { Router } from 'express';
import { z } from 'zod';
import { segmentConditionIssues, segmentDependencies } from '../../audiences/segment-deps';
import { previewSql } from '../../audiences/segment-sql';
import { flowsKeepingInactivitySegment } from '../../db/inactivity-flows';
import { inTransaction } from '../../db/pool';
import {
  countMembers,
  deleteSegment,
  getSegment,
  insertSegment,
  listMembers,
  listSegments,
  segmentIds,
  segmentsUsing,
  type Segment,
} from '../../db/segments';
import { audienceId, condition, type Condition } from '../../flows/schema';
import { MAX_CONDITION_DEPTH, MAX_CONDITIONS_PER_FLOW, type Issue } from '../../flows/validate';
import { HttpError, invalid, notFound } from '../errors';
import { parseOr400, storableParam } from '../validate';
import { startSegmentBuild, type BuildDeps } from './build';

export const segmentInput = z.strictObject({ id: audienceId, name: z.string().min(1).max(200), condition });
export const previewInput = z.strictObject({ condition, sample: z.number().int().min(1).max(100).default(10) });
export const membersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(255).optional(),
});

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

const view = (s: Segment) => ({
  id: s.id,
  name: s.name,
  condition: s.condition,
  status: s.status,
  progress: { processed: s.processed, total: s.total },
  dependsOn: {
    events: s.dependencies.events,
    traits: s.dependencies.traits,
    segments: s.dependencies.segments,
    lists: s.dependencies.lists,
    consent: s.dependencies.consent,
  },
  timeBased: s.dependencies.timeBased,
  buildError: s.buildError,
  createdAt: s.createdAt,
  readyAt: s.readyAt,
});

export function segmentsRouter(deps: BuildDeps): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.post('/preview', async (req, res) => {
    const body = parseOr400(previewInput, req.body ?? {});
    const issues = conditionIssues(body.condition, await segmentIds(deps.db));
    if (issues.length) throw invalid(issues, 'condition is invalid');
    const sql = previewSql(body.condition, new Date(), body.sample);
    const [count, sample] = await Promise.all([
      deps.db.query<{ count: number }>(sql.count.text, sql.count.values),
      deps.db.query<{ id: string; email: string | null; phone: string | null; traits: Record<string, unknown> }>(
        sql.sample.text,
        sql.sample.values,
      ),
    ]);
    res.json({
      count: count.rows[0].count,
      sample: sample.rows.map((r) => ({ contactId: r.id, email: r.email, phone: r.phone, traits: r.traits })),
    });
  });

  router.post('/', async (req, res) => {
    const body = parseOr400(segmentInput, req.body ?? {});
    const issues = conditionIssues(body.condition, await segmentIds(deps.db), body.id);
    if (issues.length) throw invalid(issues, 'segment is invalid');
    const segment = await inTransaction(deps.db, async (tx) => {
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts');
      return insertSegment(tx, { ...body, dependencies: segmentDependencies(body.condition), total: rows[0].n });
    });
    if (!segment)
      throw new HttpError(
        409,
        'segment_exists',
        `segment "${body.id}" exists; segments are not edited in place: delete it or use another id`,
      );
    try {
      await startSegmentBuild(deps.workflows, segment.id, true);
    } catch (err) {
      // No build, no segment: nothing was accepted, the client retries.
      await deleteSegment(deps.db, segment.id);
      throw err;
    }
    res
      .status(202)
      .location(`/v1/segments/${segment.id}`)
      .json({ ...view(segment), count: 0 });
  });

  router.get('/', async (_req, res) => {
    const segments = await listSegments(deps.db);
    res.json({
      segments: await Promise.all(
        segments.map(async (s) => ({ ...view(s), count: await countMembers(deps.db, s.id) })),
      ),
    });
  });

  router.get('/:id', async (req, res) => {
    const query = parseOr400(membersQuery, req.query);
    const segment = await getSegment(deps.db, req.params.id);
    if (!segment) throw notFound(`segment "${req.params.id}"`);
    const members = await listMembers(deps.db, segment.id, query.limit, query.cursor);
    res.json({
      ...view(segment),
      count: await countMembers(deps.db, segment.id),
      members,
      nextCursor: members.length === query.limit ? members[members.length - 1].contactId : null,
    });
  });

  router.delete('/:id', async (req, res) => {
    const users = await segmentsUsing(deps.db, req.params.id);
    if (users.length)
      throw new HttpError(
        409,
        'segment_in_use',
        `segment "${req.params.id}" is used by ${users.map((u) => `"${u}"`).join(', ')}; delete those first`,
      );
    // An inactivity flow's system segment: deleting it would stop the flow without a word.
    const flows = await flowsKeepingInactivitySegment(deps.db, req.params.id);
    if (flows.length)
      throw new HttpError(
        409,
        'segment_in_use',
        `segment "${req.params.id}" is the inactivity trigger of flow ${flows.map((f) => `"${f}"`).join(', ')}; archive those flows first`,
      );
    if (!(await deleteSegment(deps.db, req.params.id))) throw notFound(`segment "${req.params.id}"`);
    // Clocks of its members wake, find it gone and stop (activities/segments.ts).
    res.json({ id: req.params.id, deleted: true });
  });

  return router;
}
