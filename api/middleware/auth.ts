/**
 * API keys. Admin keys (API_KEYS) open every route; write keys (WRITE_KEYS) only the ingestion
 * routes, so that, like Segment's write keys, they can be embedded in a web page or an app.
 *
 * A key is accepted as `Authorization: Bearer KEY`, as the Basic user name with an empty password
 * (what Segment's libraries send), and on ingestion routes as `writeKey` in the JSON body (what
 * analytics.js sends with sendBeacon, which cannot set headers).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../errors';

export type KeyKind = 'write' | 'admin';

/** Who a request is: the kind of its key and an id safe to log. */
export interface KeyIdentity {
  kind: KeyKind;
  id: string;
}

declare global {
  namespace Express {
    interface Locals {
      /** Set once the request's key is known (auth), read by the rate limiter and the request log. */
      apiKey?: KeyIdentity;
    }
  }
}

/**
 * A key's id for logs and rate-limit buckets: the first 12 hex digits of its SHA-256, so an
 * operator can tell which key it was (`printf %s "$KEY" | sha256sum | cut -c1-12`) without the
 * log holding the key.
 */
export function keyId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export interface KeyRing {
  /** The identity of the key `candidate` is, if it is one. */
  identify(candidate: string): KeyIdentity | undefined;
}

/**
 * Both sides are HMAC-ed with a key drawn at start, so every comparison is between two 32-byte
 * digests: neither the time taken nor an exception says how long a key is. Every key is compared,
 * even after a match, so the time does not say which one matched either.
 */
export function keyRing(keys: { admin: string[]; write?: string[] }): KeyRing {
  const secret = randomBytes(32);
  const digest = (value: string) => createHmac('sha256', secret).update(value, 'utf8').digest();
  // A key listed as both is an admin key: listing it as a write key too must not narrow it.
  const write = (keys.write ?? []).filter((key) => !keys.admin.includes(key));
  const entries = [
    ...keys.admin.map((key) => ({ digest: digest(key), identity: { kind: 'admin' as const, id: keyId(key) } })),
    ...write.map((key) => ({ digest: digest(key), identity: { kind: 'write' as const, id: keyId(key) } })),
  ];
  return {
    identify(candidate) {
      const given = digest(candidate);
      let found: KeyIdentity | undefined;
      for (const entry of entries) {
        const same = timingSafeEqual(entry.digest, given);
        if (same && !found) found = entry.identity;
      }
      return found;
    },
  };
}

/** The key a request carries in its Authorization header (Bearer, or Basic user name). */
function headerKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme = '', value = ''] = header.split(' ', 2);
  if (/^bearer$/i.test(scheme)) return value.trim() || undefined;
  if (/^basic$/i.test(scheme)) return Buffer.from(value, 'base64').toString('utf8').split(':')[0] || undefined;
  return undefined;
}

/**
 * `scope: 'ingestion'` takes write and admin keys, and a `writeKey` from the parsed body
 * (`res.locals.bodyWriteKey`, set by the ingestion body parser); `scope: 'admin'` takes admin
 * keys only and answers a write key with 403.
 */
export function authenticate(ring: KeyRing, scope: 'ingestion' | 'admin'): RequestHandler {
  return (req, res, next) => {
    // Already identified on the way (an ingestion path whose method only the admin routes have).
    let identity = res.locals.apiKey;
    let candidate: string | undefined;
    const header = req.get('authorization');
    if (!identity) {
      const bodyKey: unknown = scope === 'ingestion' ? res.locals.bodyWriteKey : undefined;
      candidate = headerKey(header) ?? (typeof bodyKey === 'string' && bodyKey !== '' ? bodyKey : undefined);
      identity = candidate === undefined ? undefined : ring.identify(candidate);
    }
    if (!identity) {
      res.set('WWW-Authenticate', 'Bearer, Basic realm="parcours"');
      const howTo =
        scope === 'ingestion'
          ? 'send "Authorization: Bearer <key>" (or Basic with the key as user name, or "writeKey" in the body)'
          : 'send "Authorization: Bearer <key>"';
      const message =
        candidate !== undefined
          ? 'API key is not valid'
          : header
            ? `the Authorization header holds no key: ${howTo}`
            : `missing API key: ${howTo}`;
      return next(new HttpError(401, 'unauthorized', message));
    }
    res.locals.apiKey = identity;
    if (scope === 'admin' && identity.kind !== 'admin') {
      return next(
        new HttpError(
          403,
          'forbidden',
          'a write key can only send events (/v1/track, /v1/identify, /v1/batch, ...); this route needs an admin key (API_KEYS)',
        ),
      );
    }
    next();
  };
}
