/**
 * `GET /:id/stats` (mounted under /v1/flows): a flow's numbers, per version and per step:
 * entries, exits by reason, sends, unique engagement and last-touch conversions with revenue;
 * for flows with a holdout, treated against control from entry with the lift and its 95 % CI.
 */
import { Router } from 'express';
import { z } from 'zod';
import { getFlow, getFlowVersion } from '../../db/flows';
import type { Db } from '../../db/pool';
import { DEFAULT_CONVERSION_WINDOW_DAYS, flowStats } from '../../db/stats';
import { notFound } from '../errors';
import { parseOr400, storableParam } from '../validate';

// Query strings are text: coerce, then hold them to whole numbers in range. Strict, so a
// misspelt parameter is a 400 rather than silently ignored numbers.
export const statsQuery = z.strictObject({
  version: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31 - 1)
    .optional(),
  conversionWindowDays: z.coerce.number().int().min(1).max(90).default(DEFAULT_CONVERSION_WINDOW_DAYS),
});

export function flowStatsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/:id/stats', async (req, res) => {
    const query = parseOr400(statsQuery, { ...req.query });
    const flowId = req.params.id;
    if (!(await getFlow(deps.db, flowId))) throw notFound(`flow "${flowId}"`);
    if (query.version !== undefined && !(await getFlowVersion(deps.db, flowId, query.version))) {
      throw notFound(`version ${query.version} of flow "${flowId}"`);
    }
    res.json(
      await flowStats(deps.db, flowId, { version: query.version, conversionWindowDays: query.conversionWindowDays }),
    );
  });

  return router;
}
