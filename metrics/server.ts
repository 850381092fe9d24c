/**
 * Serving Prometheus scrapes: GET /metrics on METRICS_PORT (any process) and on the worker's health port. The
 * metrics themselves are defined in metrics/registry.ts; the gauges read from Postgres are read here, per scrape,
 * within a timeout.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DatabaseGauges, readDatabaseGauges } from '../db/metrics';
import type { Db } from '../db/pool';
import { metricsText, registry } from './registry';

/** A Postgres that does not answer in this time leaves its gauges out of the scrape instead of hanging it. */
export const SCRAPE_DATABASE_TIMEOUT_MS = 2_000;

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The text a scrape answers: the database gauges read now (when a pool is given, within the timeout; a slow or
 * absent database leaves them out and says so in parcours_metrics_database_up), then every metric.
 */
export async function renderMetrics(
  db: Db | undefined,
  timeoutMs = SCRAPE_DATABASE_TIMEOUT_MS,
): Promise<{ contentType: string; body: string }> {
  let database: DatabaseGauges | 'down' | undefined;
  if (db) {
    const read = readDatabaseGauges(db, timeoutMs);
    database = await within(timeoutMs, read).catch(() => {
      read.catch(() => undefined);
      return 'down' as const;
    });
  }
  return { contentType: registry.contentType, body: await metricsText(database) };
}

/** Answers a scrape on a plain Node response (the metrics server below, the worker's health server). */
export function serveMetrics(res: ServerResponse, db: Db | undefined): void {
  renderMetrics(db).then(
    ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
    (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${err.message}\n`),
  );
}

/**
 * GET /metrics on a port of its own (METRICS_PORT), without a key: like the worker's health port it is meant for
 * the private network Prometheus scrapes, never the public address recipients and providers reach.
 */
export async function startMetricsServer(
  port: number,
  host: string,
  db: Db,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') return serveMetrics(res, db);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
