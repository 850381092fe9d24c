/**
 * Segments: `POST /v1/segments` (built over the existing base in the background, with
 * progress), `GET /v1/segments`, `GET /v1/segments/:id` (count and members, cursor-paginated),
 * `DELETE /v1/segments/:id`, `POST /v1/segments/preview` (count and a sample before saving).
 */
import { Router } from 'express';
import { z } from 'zod';
import { countMembers, getSegment, listMembers, listSegments, type Segment } from '../../db/segments';
import { audienceId, condition } from '../../flows/schema';
import type { BuildDeps } from '../../services/segment-build';
import { createSegment, deleteUnusedSegment, previewCondition } from '../../services/segments';
import { notFound } from '../errors';
import { parseOr400, storableParam } from '../validate';

const segmentInput = z.strictObject({ id: audienceId, name: z.string().min(1).max(200), condition });
const previewInput = z.strictObject({ condition, sample: z.number().int().min(1).max(100).default(10) });
const membersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(255).optional(),
});

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
    res.json(await previewCondition(deps.db, body.condition, body.sample));
  });

  router.post('/', async (req, res) => {
    const segment = await createSegment(deps, parseOr400(segmentInput, req.body ?? {}));
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
    await deleteUnusedSegment(deps.db, req.params.id);
    res.json({ id: req.params.id, deleted: true });
  });

  return router;
}
