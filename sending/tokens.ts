/**
 * Signed tokens for links in messages (unsubscribe, open pixel, click redirect): the token
 * carries what it stands for and an HMAC, so a link cannot be forged or pointed elsewhere
 * (no open redirect) and needs no lookup table.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** `confirm`: the double opt-in link of a confirmation email. */
export type LinkPurpose = 'unsubscribe' | 'open' | 'click' | 'confirm';

export interface LinkClaims {
  /** What the link is for: a token for one purpose is refused for another. */
  p: LinkPurpose;
  /** Our message id (messages.id); confirm links: the id of the pending Consent Changed event. */
  m: string;
  /** Click links: the target URL, fixed when the message was sent. */
  u?: string;
  /** Confirm links: the contact whose consent the link confirms. */
  c?: string;
  /** Confirm links: a hash of the address the link was sent to (not the address: URLs end up in logs). */
  a?: string;
  /** Expiry, Unix seconds (confirm links); past it the link is refused as expired. */
  x?: number;
}

/** Whether a valid token has passed its expiry (tokens without one never expire). */
export function linkExpired(claims: LinkClaims, nowMs = Date.now()): boolean {
  return typeof claims.x === 'number' && claims.x * 1000 < nowMs;
}

const mac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest();

export function signLink(secret: string, claims: LinkClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/** The claims of a valid token for this purpose, or undefined. */
export function verifyLink(secret: string, token: string, purpose: LinkPurpose): LinkClaims | undefined {
  const [body, signature] = token.split('.');
  if (!body || !signature) return undefined;
  const expected = mac(secret, body);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as LinkClaims;
    return claims.p === purpose && typeof claims.m === 'string' ? claims : undefined;
  } catch {
    return undefined;
  }
}
