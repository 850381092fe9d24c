/**
 * `/health`: whether this API can reach Postgres and Temporal, each checked with its own short
 * deadline so a hung dependency answers "down" in seconds instead of hanging the probe.
 * 503 when Postgres is down (nothing can be accepted); Temporal down is "degraded" with 200,
 * since events are still stored and routed once it is back.
 */
import { Router } from 'express';
import type { WorkflowClient } from '@temporalio/client';
import { ping } from '../../db/pool';
import type { Db } from '../../db/pool';

export const HEALTH_CHECK_TIMEOUT_MS = 2_000;

interface Check {
  ok: boolean;
  ms: number;
  error?: string;
}

async function timed(work: (signal: AbortSignal) => Promise<unknown>): Promise<Check> {
  const started = Date.now();
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`));
    }, HEALTH_CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([work(abort.signal), deadline]);
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: { db: Db; workflows: WorkflowClient }): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    const [postgres, temporal] = await Promise.all([
      // The pool's own timeouts end the query too; the race answers the probe in time anyway.
      timed(() => ping(deps.db)),
      timed((signal) => deps.workflows.withAbortSignal(signal, () => deps.workflows.workflowService.getSystemInfo({}))),
    ]);
    const status = !postgres.ok ? 'unavailable' : !temporal.ok ? 'degraded' : 'ok';
    if (!postgres.ok) res.set('Retry-After', '5');
    res.status(postgres.ok ? 200 : 503).json({ status, postgres, temporal });
  });
  return router;
}
