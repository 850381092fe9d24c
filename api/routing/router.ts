/**
 * Routing dead letters (routing/dead-letters.ts), for operators: what could not be routed,
 * and a retry once the cause is fixed. Admin keys only.
 */
import { Router } from 'express';
import { z } from 'zod';
import { countOpenDeadLetters, listDeadLetters } from '../../db/dead-letters';
import { retryDeadLetter } from '../../routing/dead-letters';
import type { RouterDeps } from '../../routing/router';
import { HttpError, notFound } from '../errors';
import { parseOr400 } from '../validate';

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Resolved letters too (`all`), or only those still open (default). */
  state: z.enum(['open', 'all']).default('open'),
  /** Paging: letters older than this id (the last id of the page before). */
  before: z.coerce.number().int().positive().optional(),
});
const idParam = z.object({ id: z.coerce.number().int().positive() });

export function routingRouter(deps: RouterDeps): Router {
  const router = Router();
  router.get('/dead-letters', async (req, res) => {
    const { limit, state, before } = parseOr400(listQuery, req.query);
    const [deadLetters, open] = await Promise.all([
      listDeadLetters(deps.db, { open: state === 'open', limit, beforeId: before }),
      countOpenDeadLetters(deps.db),
    ]);
    res.json({ open, deadLetters });
  });
  router.post('/dead-letters/:id/retry', async (req, res) => {
    const { id } = parseOr400(idParam, req.params);
    const outcome = await retryDeadLetter(deps, id);
    if (outcome.status === 'not_found') throw notFound(`dead letter ${id}`);
    if (outcome.status === 'unavailable')
      throw new HttpError(503, 'temporal_unavailable', `Temporal is unavailable; retry later (${outcome.error})`);
    const { status: _status, ...body } = outcome;
    res.json(body);
  });
  return router;
}
