/**
 * Authenticating a generic source's delivery: an HMAC-SHA256 of the raw body in a header, or a
 * token in the URL. Both compared in constant time over fixed-length digests, so neither the
 * secret's content nor its length leaks through timing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SourceAuth } from './source-config';

export interface DeliveryCredentials {
  header: (name: string) => string | undefined;
  token: string | undefined;
}

export function authenticateDelivery(auth: SourceAuth, rawBody: Buffer, given: DeliveryCredentials): boolean {
  if (auth.type === 'token') {
    if (given.token === undefined) return false;
    return timingSafeEqual(sha256(given.token), sha256(auth.token));
  }
  const value = given.header(auth.header)?.trim();
  if (!value?.startsWith(auth.prefix)) return false;
  const signature = Buffer.from(value.slice(auth.prefix.length), auth.encoding);
  const expected = createHmac('sha256', auth.secret).update(rawBody).digest();
  // A digest is always 32 bytes: comparing lengths first reveals nothing about the secret.
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();
