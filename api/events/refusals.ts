/**
 * Ingestion requests refused as a whole (a bad key, the rate limit, a body that does not parse, a call that does not
 * validate, the database down) count as rejected events, by the error code they were answered with. Items of a
 * batch that was answered are counted by ingestBatch itself (its all-invalid 400 does not go through the error
 * handler, so nothing is counted twice).
 */
import type { RequestHandler } from 'express';
import { eventsRejected } from '../../metrics/registry';

export function countRefusedIngestion(): RequestHandler {
  return (_req, res, next) => {
    res.once('close', () => {
      // Set by noteErrorCode (api/middleware/request-log.ts) on the way to the error handler.
      const code = res.locals.errorCode;
      if (res.statusCode >= 400 && code) eventsRejected.inc({ reason: code });
    });
    next();
  };
}
