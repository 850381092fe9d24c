import { Router } from 'express';
import { getFlow, listFlows, saveFlow, VersionConflictError } from '../../db/flows';
import { inTransaction, type Db } from '../../db/pool';
import { flowId } from '../../flows/schema';
import { validateFlow } from '../../flows/validate';
import { HttpError, invalid, notFound } from '../errors';
import { parseOr400 } from '../validate';

export function flowsRouter(deps: { db: Db }): Router {
  const router = Router();

  router.get('/', async (_req, res) => {
    res.json({ flows: await listFlows(deps.db) });
  });

  router.get('/:id', async (req, res) => {
    const flow = await getFlow(deps.db, req.params.id);
    if (!flow) throw notFound(`flow "${req.params.id}"`);
    res.json(flow);
  });

  /** Create or replace. A changed flow gets a new version; running journeys keep theirs. */
  router.put('/:id', async (req, res) => {
    const id = parseOr400(flowId, req.params.id);
    const validated = validateFlow(req.body);
    if (!validated.success) throw invalid(validated.issues, 'flow is invalid');
    if (validated.data.id !== undefined && validated.data.id !== id) {
      throw invalid([{ path: ['id'], message: `body id "${validated.data.id}" does not match the URL ("${id}")` }]);
    }
    try {
      const { flow, changed } = await inTransaction(deps.db, (tx) => saveFlow(tx, id, validated.data));
      res.status(changed && flow.version === 1 ? 201 : 200).json(flow);
    } catch (err) {
      if (err instanceof VersionConflictError) throw new HttpError(409, 'version_conflict', err.message);
      throw err;
    }
  });

  return router;
}
