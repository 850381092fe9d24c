/** Errors carry an HTTP status and a stable code; one middleware turns them into JSON. */
import type { ErrorRequestHandler } from 'express';
import type { Issue } from '../flows/validate';
import type { Logger } from '../runtime/logger';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
  ) {
    super(message);
  }
}

export const invalid = (issues: Issue[], message = 'request is invalid') => new HttpError(400, 'invalid_request', message, issues);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);

// Connection-level failures of Postgres: the client should retry later, nothing was accepted.
const DATABASE_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '08000', '08001', '08003', '08006']);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (e.code !== undefined && DATABASE_DOWN.has(e.code)) || /Connection terminated|timeout exceeded when trying to connect/.test(e.message ?? '');
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const bodyError = err as { type?: string; status?: number; message: string };
    let httpError: HttpError;
    if (err instanceof HttpError) httpError = err;
    else if (bodyError.type === 'entity.parse.failed') httpError = new HttpError(400, 'invalid_json', `body is not valid JSON: ${bodyError.message}`);
    else if (bodyError.type === 'entity.too.large') httpError = new HttpError(413, 'payload_too_large', 'body is larger than 500 KB');
    else if (isDatabaseUnavailable(err)) httpError = new HttpError(503, 'unavailable', 'storage is unavailable; nothing was accepted, retry later');
    else {
      log.error({ err, path: req.path }, 'unhandled error');
      httpError = new HttpError(500, 'internal', 'internal error');
    }
    if (httpError.status === 503) res.set('Retry-After', '5');
    res.status(httpError.status).json({
      error: { code: httpError.code, message: httpError.message, ...(httpError.issues ? { issues: httpError.issues } : {}) },
    });
  };
}
