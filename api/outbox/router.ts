import { Router } from 'express';
import { z } from 'zod';
import { listOutbox } from '../../db/messages';
import type { Db } from '../../db/pool';
import { parseOr400 } from '../validate';

export const query = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });

/** Messages "sent" without provider credentials: what a real provider would have received. */
export function outboxRouter(deps: { db: Db }): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const { limit } = parseOr400(query, req.query);
    res.json({ messages: await listOutbox(deps.db, limit) });
  });
  return router;
}
