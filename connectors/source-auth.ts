/**
 * Authenticating a generic source's delivery: an HMAC-SHA256 of the raw body in a header, or a
 * token in the URL. Both compared in constant time over fixed-length digests, so neither the
 * secret's content nor its length leaks through timing. The token is compared with its stored
 * SHA-256; the HMAC secret is decrypted only when a delivery claims a signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { tokenMatches, type StoredSourceAuth } from './source-secrets';

export interface DeliveryCredentials {
  header: (name: string) => string | undefined;
  token: string | undefined;
}

/** `hmacSecret`: the source's secret, decrypted (it throws when it cannot be). */
export function authenticateDelivery(
  auth: StoredSourceAuth,
  hmacSecret: () => string,
  rawBody: Buffer,
  given: DeliveryCredentials,
): boolean {
  if (auth.type === 'token') return tokenMatches(given.token, auth.tokenSha256);
  const value = given.header(auth.header)?.trim();
  if (!value?.startsWith(auth.prefix)) return false;
  const signature = Buffer.from(value.slice(auth.prefix.length), auth.encoding);
  const expected = createHmac('sha256', hmacSecret()).update(rawBody).digest();
  // A digest is always 32 bytes: comparing lengths first reveals nothing about the secret.
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}
