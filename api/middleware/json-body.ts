/**
 * JSON bodies for the /v1 routes: declared as JSON (415 otherwise), in a charset we can read
 * (415), at most 500 KB (413), and not absurdly deep (400). Requests without a body (GET, the
 * status POSTs) pass untouched.
 *
 * `text/plain` is accepted as JSON because analytics.js posts its events so, to avoid CORS
 * preflights (see notes/providers.md).
 */
import express, { type RequestHandler } from 'express';
import { HttpError, invalid } from '../errors';
import { MAX_JSON_DEPTH, unstorableJson } from '../../connectors/storable-json';

const JSON_TYPES = ['application/json', 'application/*+json', 'text/plain'];

/** Segment's batch limit; single events are held to 32 KB in the events router. */
export const MAX_BODY = '500kb';

const hasBody = (headers: express.Request['headers']) =>
  headers['transfer-encoding'] !== undefined ||
  (headers['content-length'] !== undefined && headers['content-length'] !== '0');

const requireJsonType: RequestHandler = (req, _res, next) => {
  if (!hasBody(req.headers) || req.is(JSON_TYPES)) return next();
  const given = req.get('content-type');
  next(
    new HttpError(
      415,
      'unsupported_media_type',
      given
        ? `content type "${given}" is not JSON; send "Content-Type: application/json"`
        : 'missing content type; send "Content-Type: application/json"',
    ),
  );
};

/**
 * Each request part is checked to MAX_JSON_DEPTH where it is parsed (so one deep event of a
 * batch fails alone); this bound on the whole body protects everything before that.
 */
const boundDepth: RequestHandler = (req, _res, next) => {
  const issue =
    req.body === undefined ? undefined : unstorableJson(req.body, { maxDepth: 2 * MAX_JSON_DEPTH, depthOnly: true });
  next(issue ? invalid([issue], 'body is nested too deeply') : undefined);
};

export function jsonBody(): RequestHandler[] {
  return [requireJsonType, express.json({ limit: MAX_BODY, type: JSON_TYPES }), boundDepth];
}
