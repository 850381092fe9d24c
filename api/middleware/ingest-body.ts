/**
 * Bodies of the ingestion routes, as tolerant as Segment's own API: JSON whatever the content
 * type says (analytics.js posts `text/plain` to avoid preflights, sendBeacon too; RudderStack's
 * node client labels its gzip JSON `application/x-www-form-urlencoded`; some clients send no
 * type at all), gzip, deflate or brotli, in any charset iconv knows. Numbers that a double
 * cannot hold (ids past 2^53) stay exact decimal strings.
 *
 * Limits: 500 KB after decompression (the limit counts inflated bytes, so a gzip bomb stops at
 * 500 KB), 64 levels of nesting, checked on the text before parsing so no parser recurses
 * that deep. A `writeKey` in the body (analytics.js cannot set headers) is taken out of it and
 * left in `res.locals.bodyWriteKey` for the auth middleware; it is never stored.
 *
 * Mount order on the ingestion routes: ingestionCors() → ingestionBody() → auth → routes.
 * Other routes pass through untouched (they keep the strict JSON parser, json-body.ts).
 */
import express, { type RequestHandler } from 'express';
import { jsonStructure, parseExactJson } from '../../connectors/exact-json';
import { isIngestionPath } from '../events/paths';
import { HttpError, invalid } from '../errors';
import { MAX_JSON_DEPTH } from '../../connectors/storable-json';
import { MAX_BODY } from './json-body';

/** Nesting allowed in a whole body (a batch of events, each allowed MAX_JSON_DEPTH). */
export const MAX_BODY_DEPTH = 2 * MAX_JSON_DEPTH;

export interface IngestionLocals {
  /** The `writeKey` the body carried, for the auth middleware. */
  bodyWriteKey?: string;
}

const readText = express.text({ type: () => true, limit: MAX_BODY, defaultCharset: 'utf-8' });

/** The deepest nesting of arrays and objects in a JSON text (strings skipped), stopping past `limit`. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  return jsonStructure(text, limit).tooDeep;
}

const parseJson: RequestHandler = (req, res, next) => {
  const text: unknown = req.body;
  if (typeof text !== 'string' || text.trim() === '') {
    req.body = undefined;
    return next();
  }
  if (jsonDepthExceeds(text, MAX_BODY_DEPTH))
    return next(
      invalid([{ path: [], message: `nested deeper than ${MAX_BODY_DEPTH} levels` }], 'body is nested too deeply'),
    );
  let body: unknown;
  try {
    body = parseExactJson(text);
  } catch (err) {
    return next(new HttpError(400, 'invalid_json', `body is not valid JSON: ${(err as Error).message}`));
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'writeKey' in body) {
    const { writeKey, ...rest } = body as Record<string, unknown>;
    if (typeof writeKey === 'string') (res.locals as IngestionLocals).bodyWriteKey = writeKey;
    body = rest;
  }
  req.body = body;
  next();
};

export function ingestionBody(): RequestHandler[] {
  const onIngestion =
    (handler: RequestHandler): RequestHandler =>
    (req, res, next) =>
      isIngestionPath(req) ? handler(req, res, next) : next();
  return [onIngestion(readText), onIngestion(parseJson)];
}
