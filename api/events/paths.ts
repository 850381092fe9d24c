/**
 * The ingestion routes, named once: the events router serves them, and the CORS, body and
 * write-key rules apply to them and to nothing else (admin routes get no CORS and keep their
 * strict JSON parser).
 */

import { CALL_TYPES, type CallType } from '../../connectors/segment';

/** Segment call types, each at `/v1/<type>` and at the short path analytics.js posts to. */
export { CALL_TYPES, type CallType };

export const SHORT_PATHS: Record<string, CallType> = {
  t: 'track',
  i: 'identify',
  p: 'page',
  s: 'screen',
  g: 'group',
  a: 'alias',
};

/** `/v1/batch`, and `/v1/b` where analytics.js's `batching` delivery strategy posts its batches. */
export const BATCH_PATHS = ['/batch', '/b'] as const;

/** Full paths (under /v1) of every ingestion route. */
export const INGESTION_PATHS: readonly string[] = [
  ...[...CALL_TYPES, ...Object.keys(SHORT_PATHS)].map((p) => `/${p}`),
  ...BATCH_PATHS,
].map((p) => `/v1${p}`);

const ingestion = new Set(INGESTION_PATHS);

/**
 * Whether a request is for an ingestion route, wherever the middleware asking is mounted
 * (baseUrl + path is the full path). Express matches paths case-insensitively and with an
 * optional trailing slash: so does this, or a route could be reached without its rules.
 */
export function isIngestionPath(req: { baseUrl: string; path: string }): boolean {
  const full = `${req.baseUrl}${req.path}`.toLowerCase().replace(/\/+$/, '');
  return ingestion.has(full);
}
