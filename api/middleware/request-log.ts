/**
 * One JSON log line per request, through the process's pino logger: method, route pattern,
 * status, duration, key id, request id, and the error code of a refused request. Never the
 * key, the Authorization header, the body, or the raw URL (ids in it may be email addresses).
 */
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from '../../runtime/logger';
import { toHttpError } from '../errors';
import { isIngestionPath } from '../events/paths';

declare global {
  namespace Express {
    interface Locals {
      /** The code of the error the request was answered with (the error handler's body). */
      errorCode?: string;
    }
  }
}

/** The probes' routes (api/health/router.ts). */
const PROBES = new Set(['/health', '/livez', '/readyz']);

/** A caller's own request id is kept (proxies set one) when it is a plain token. */
const REQUEST_ID = /^[\w.:-]{1,100}$/;

/**
 * The matched route's pattern (`/v1/contacts/:id`). Express sets `req.route` when a route
 * matches, while `req.baseUrl` is still the mount path of the router holding it; by the time the
 * response is finished baseUrl has been restored, so the pattern is taken at that moment.
 */
function watchRoute(req: Request): () => string | null {
  let route: Request['route'];
  let pattern: string | null = null;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: Request['route']) => {
      route = value;
      const path: unknown = value?.path;
      pattern = `${req.baseUrl}${typeof path === 'string' ? path : String(path)}`;
    },
  });
  return () => pattern ?? fixedIngestionPath(req.originalUrl);
}

/**
 * Requests refused before their route matched (401, 429) still name an ingestion path: those
 * are fixed paths without ids, safe to log.
 */
function fixedIngestionPath(url: string): string | null {
  const path = url.split('?')[0] ?? '';
  return isIngestionPath({ baseUrl: '', path }) ? path.toLowerCase().replace(/\/+$/, '') : null;
}

export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.set('X-Request-Id', requestId);
    const route = watchRoute(req);
    res.once('close', () => {
      const status = res.statusCode;
      const line = {
        method: req.method,
        // null: answered before any route matched (a 401, 403 or 429 on an admin path, a 404).
        route: route(),
        status,
        durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        keyId: res.locals.apiKey?.id ?? null,
        keyKind: res.locals.apiKey?.kind ?? null,
        requestId,
        ...(status >= 400 && res.locals.errorCode ? { errorCode: res.locals.errorCode } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      // Health checks come every few seconds from orchestrators: kept out of the info log.
      if (status < 400 && PROBES.has(route() ?? '')) log.debug(line, 'request');
      else if (status >= 500) log.warn(line, 'request');
      else log.info(line, 'request');
    });
    next();
  };
}

/** Placed before the error handler: notes the code it will answer with, for the log line. */
export function noteErrorCode(): ErrorRequestHandler {
  return (err, _req, res, next) => {
    res.locals.errorCode = toHttpError(err)?.code ?? 'internal';
    next(err);
  };
}
