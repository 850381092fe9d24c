/**
 * Requests per key: a token bucket per key (a rate per second and a burst), separately for write
 * and admin keys. Over the limit: 429 with `Retry-After` in whole seconds, on which Segment's
 * libraries wait and send again. The buckets live in the process: with several API processes
 * each allows the full rate.
 *
 * Runs after authentication: only known keys have buckets (so their number is bounded by the
 * configuration), and a request without a valid key is a 401, never counted.
 */
import type { RequestHandler } from 'express';
import { HttpError } from '../errors';
import type { KeyKind } from './auth';

export interface RateLimit {
  /** Tokens added per second; 0: no limit. */
  perSecond: number;
  /** Tokens a bucket holds: how many requests may come at once after a quiet spell. */
  burst: number;
}

export type RateLimits = Record<KeyKind, RateLimit>;

interface Bucket {
  tokens: number;
  at: number;
}

declare global {
  namespace Express {
    interface Locals {
      /** The request was counted (it may cross two routers on its way to a 404). */
      rateCounted?: boolean;
    }
  }
}

export function rateLimit(limits: RateLimits, now: () => number = Date.now): RequestHandler {
  const buckets = new Map<string, Bucket>();
  return (_req, res, next) => {
    const key = res.locals.apiKey;
    if (!key || res.locals.rateCounted) return next();
    res.locals.rateCounted = true;
    const { perSecond, burst } = limits[key.kind];
    if (perSecond <= 0) return next();
    const time = now();
    const bucket = buckets.get(key.id) ?? { tokens: burst, at: time };
    bucket.tokens = Math.min(burst, bucket.tokens + ((time - bucket.at) / 1000) * perSecond);
    bucket.at = time;
    buckets.set(key.id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return next();
    }
    const seconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    res.set('Retry-After', String(seconds));
    next(
      new HttpError(
        429,
        'rate_limited',
        `too many requests for this key (${perSecond} per second, bursts of ${burst}); retry in ${seconds} s`,
      ),
    );
  };
}
