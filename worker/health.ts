/**
 * The worker's own health check (it has no HTTP API), on WORKER_HEALTH_PORT: GET /readyz (and
 * /health) says whether the worker is polling, Temporal answers and Postgres answers; GET /livez
 * only whether the worker runs, so that a liveness probe restarts a worker that stopped or
 * failed, never one waiting for Postgres or Temporal to come back.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, State } from '@temporalio/worker';
import { ping, type Db } from '../db/pool';
import { serveMetrics } from '../metrics/server';

export interface WorkerHealthDeps {
  workerState: () => State;
  connection: NativeConnection;
  db: Db;
  /** Each probe's limit: a hung dependency is reported as down, not waited on. */
  timeoutMs?: number;
}

export interface WorkerHealth {
  status: 'ok' | 'unavailable';
  worker: State;
  temporal: string;
  postgres: string;
}

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const outcome = (probe: Promise<unknown>) =>
  probe.then(
    () => 'ok',
    (err: Error) => `down: ${err.message}`,
  );

export async function checkWorkerHealth(deps: WorkerHealthDeps): Promise<WorkerHealth> {
  const ms = deps.timeoutMs ?? 3000;
  const [temporal, postgres] = await Promise.all([
    // getSystemInfo: answered by every frontend, Temporal Cloud included (the gRPC health service is not everywhere).
    outcome(deps.connection.withDeadline(Date.now() + ms, () => deps.connection.workflowService.getSystemInfo({}))),
    outcome(within(ms, ping(deps.db))),
  ]);
  const worker = deps.workerState();
  const healthy = worker === 'RUNNING' && temporal === 'ok' && postgres === 'ok';
  return { status: healthy ? 'ok' : 'unavailable', worker, temporal, postgres };
}

/**
 * Serves GET /readyz and /health (200 healthy, 503 otherwise, JSON either way), GET /livez (the worker alone) and
 * GET /metrics (Prometheus, metrics/server.ts); resolves once listening.
 */
export async function startWorkerHealthServer(
  port: number,
  deps: WorkerHealthDeps,
  host = '0.0.0.0',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method === 'GET' && path === '/metrics') return serveMetrics(res, deps.db);
    if (req.method !== 'GET' || !path || !['/health', '/readyz', '/livez'].includes(path)) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ error: { code: 'not_found', message: 'only GET /livez, /readyz, /health and /metrics' } }),
        );
      return;
    }
    // Liveness: only the worker itself. Postgres or Temporal down is not cured by a restart
    // (the worker reconnects by itself); a worker that stopped or failed is.
    if (path === '/livez') {
      const worker = deps.workerState();
      const alive = worker !== 'FAILED' && worker !== 'STOPPED';
      res
        .writeHead(alive ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: alive ? 'ok' : 'unavailable', worker }));
      return;
    }
    checkWorkerHealth(deps).then(
      (health) =>
        res
          .writeHead(health.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify(health)),
      (err: Error) =>
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: 'unavailable', error: err.message })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
