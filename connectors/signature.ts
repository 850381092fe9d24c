/**
 * Shopify and WooCommerce sign a webhook the same way: base64 of HMAC-SHA256 over the exact
 * raw body with the shared secret. Compared in constant time over fixed-length digests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function verifyBase64HmacSha256(secret: string, rawBody: Buffer, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(signature.trim(), 'base64');
  // A digest is always 32 bytes: comparing lengths first reveals nothing about the secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
