/**
 * Admin routes of generic sources (behind an admin key): create or replace one with
 * PUT /v1/sources/:id, read it back without its secrets, list, delete.
 */
import { Router } from 'express';
import { redacted, sourceConfig } from '../../connectors/source-config';
import { deleteSource, getSource, listSources, putSource, type StoredSource } from '../../db/sources';
import type { Db } from '../../db/pool';
import { slug } from '../../flows/schema';
import { parseWith } from '../../flows/validate';
import { invalid, notFound } from '../errors';
import { parseOr400 } from '../validate';

const view = (s: StoredSource) => ({
  id: s.id,
  ...redacted(s.config),
  createdAt: s.createdAt,
  updatedAt: s.updatedAt,
  receiveUrl: `/v1/sources/${s.id}/events`,
});

export function sourcesRouter(deps: { db: Db }): Router {
  const router = Router();

  router.get('/', async (_req, res) => {
    res.json({ sources: (await listSources(deps.db)).map(view) });
  });

  router.get('/:id', async (req, res) => {
    const source = await getSource(deps.db, req.params.id);
    if (!source) throw notFound(`source "${req.params.id}"`);
    res.json(view(source));
  });

  router.put('/:id', async (req, res) => {
    const id = parseOr400(slug, req.params.id);
    const parsed = parseWith(sourceConfig, req.body);
    if (!parsed.success) throw invalid(parsed.issues, 'source is invalid');
    const { source, created } = await putSource(deps.db, id, parsed.data);
    res.status(created ? 201 : 200).json(view(source));
  });

  router.delete('/:id', async (req, res) => {
    if (!(await deleteSource(deps.db, req.params.id))) throw notFound(`source "${req.params.id}"`);
    res.status(204).end();
  });

  return router;
}
