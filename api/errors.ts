/** Errors carry an HTTP status and a stable code; one middleware turns them into JSON. */
import type { ErrorRequestHandler } from 'express';
import { DatabaseHungError } from '../db/breaker';
import { isErasedIdRefusal } from '../db/contact-erase';
import { isDatabaseUnavailable, isRefusedData } from '../db/pool';
import type { Issue } from '../flows/validate';
import type { Logger } from '../runtime/logger';
import { HttpError } from '../services/errors';

export { HttpError, invalid, notFound } from '../services/errors';
export { isDatabaseUnavailable, isRefusedData };

// body-parser's error types, answered with their own status and a stable code.
const BODY_ERRORS: Record<string, { status: number; code: string; message?: string }> = {
  'entity.parse.failed': { status: 400, code: 'invalid_json' },
  'entity.too.large': { status: 413, code: 'payload_too_large' },
  'charset.unsupported': { status: 415, code: 'unsupported_charset' },
  'encoding.unsupported': { status: 415, code: 'unsupported_encoding' },
  'request.aborted': { status: 400, code: 'request_aborted' },
  'request.size.invalid': { status: 400, code: 'invalid_content_length' },
};

/** Any error to the HttpError the client sees. */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  const e = err as { type?: string; status?: unknown; expose?: boolean; message?: string; limit?: number };
  const known = e.type ? BODY_ERRORS[e.type] : undefined;
  if (known) {
    const message =
      known.code === 'invalid_json'
        ? `body is not valid JSON: ${e.message}`
        : known.code === 'payload_too_large' && e.limit
          ? `body is larger than ${Math.round(e.limit / 1024)} KB`
          : (known.message ?? e.message ?? known.code);
    return new HttpError(known.status, known.code, message);
  }
  // The breaker (db/breaker.ts) refused or cut the call: Postgres is known to be hung.
  if (err instanceof DatabaseHungError)
    return new HttpError(503, 'unavailable', 'the database is not answering; retry later');
  if (isDatabaseUnavailable(err))
    return new HttpError(503, 'unavailable', 'storage is unavailable; nothing was accepted, retry later');
  if (isRefusedData(err)) return new HttpError(400, 'invalid_data', `the data cannot be stored: ${e.message}`);
  // An admin write (list member, consent, push subscription) for a person erased at their request.
  if (isErasedIdRefusal(err)) return new HttpError(410, 'erased', e.message ?? 'this contact id was erased');
  // Errors from Express itself and its parsers (a URL that does not decode...) that are the client's.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose !== false) {
    return new HttpError(e.status, 'bad_request', e.message ?? 'bad request');
  }
  return undefined;
}

/**
 * `{ error: { code, message, issues } }`, and `code` and `message` again at the top level:
 * Segment's older Python library (analytics-python) reads a top-level `code`.
 */
export function errorBody(e: HttpError): {
  code: string;
  message: string;
  error: { code: string; message: string; issues?: Issue[] };
} {
  return {
    code: e.code,
    message: e.message,
    error: { code: e.code, message: e.message, ...(e.issues ? { issues: e.issues } : {}) },
  };
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    // Too late for an error body: Express's own handler closes the connection.
    if (res.headersSent) return next(err);
    let httpError = toHttpError(err);
    if (!httpError) {
      log.error({ err, path: req.path }, 'unhandled error');
      httpError = new HttpError(500, 'internal', 'internal error');
    }
    if (httpError.status === 503) res.set('Retry-After', '5');
    res.status(httpError.status).json(errorBody(httpError));
  };
}
