/**
 * Admin routes of generic sources (behind an admin key): create or replace one with
 * PUT /v1/sources/:id, read it back without its secrets, list, delete. Secrets are stored hashed
 * or encrypted (connectors/source-secrets.ts) and never returned; one Parcours generates (a
 * secret or token left out of a creation) is in that creation's answer only.
 */
import { Router } from 'express';
import { sourceConfig } from '../../connectors/source-config';
import { redacted, secretsToStore } from '../../connectors/source-secrets';
import { deleteSource, getSource, listSources, putSource, type StoredSource } from '../../db/sources';
import type { Db } from '../../db/pool';
import { slug } from '../../flows/schema';
import { parseWith } from '../../flows/validate';
import { invalid, notFound } from '../errors';
import { parseOr400 } from '../validate';
import { sourceSecretError } from './secret-errors';

const view = (s: StoredSource) => ({
  id: s.id,
  ...redacted(s.config),
  createdAt: s.createdAt,
  updatedAt: s.updatedAt,
  receiveUrl: `/v1/sources/${s.id}/events`,
});

export function sourcesRouter(deps: { db: Db; secretsKey?: Buffer }): Router {
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
    const previous = await getSource(deps.db, id);
    let stored: ReturnType<typeof secretsToStore>;
    try {
      stored = secretsToStore(id, parsed.data, previous?.config, deps.secretsKey);
    } catch (err) {
      throw sourceSecretError(err);
    }
    const { source, created } = await putSource(deps.db, id, stored.config);
    const shown = view(source);
    const { secret, token } = stored.generated;
    if (secret === undefined && token === undefined) return void res.status(created ? 201 : 200).json(shown);
    // Only its hash or its ciphertext is kept: this answer is the one time it can be read.
    res.status(created ? 201 : 200).json({
      ...shown,
      auth: { ...shown.auth, ...(secret !== undefined ? { secret } : { token }) },
      ...(token !== undefined ? { receiveUrl: `${shown.receiveUrl}?token=${token}` } : {}),
      shownOnce: 'the generated secret is in this answer only (it is stored hashed or encrypted): keep it now',
    });
  });

  router.delete('/:id', async (req, res) => {
    if (!(await deleteSource(deps.db, req.params.id))) throw notFound(`source "${req.params.id}"`);
    res.status(204).end();
  });

  return router;
}
