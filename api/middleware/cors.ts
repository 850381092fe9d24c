/**
 * CORS for the ingestion routes only, so a web page can send events with a write key
 * (analytics.js, sendBeacon, fetch with a JSON content type). Admin routes get no CORS
 * headers: a browser page never reaches them with an admin key.
 */
import type { RequestHandler } from 'express';
import { isIngestionPath } from '../events/paths';

/** Browsers cache a preflight this long (seconds); Chrome caps it at 2 hours. */
const PREFLIGHT_MAX_AGE_S = 7200;

export function ingestionCors(): RequestHandler {
  return (req, res, next) => {
    if (!isIngestionPath(req)) return next();
    // No cookies are involved (the key is a header or in the body), so any origin may post.
    res.set('Access-Control-Allow-Origin', req.get('origin') ?? '*');
    res.vary('Origin');
    if (req.method !== 'OPTIONS') return next();
    res.set({
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type, Authorization, Content-Encoding',
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    });
    res.status(204).end();
  };
}
