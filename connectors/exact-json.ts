/**
 * JSON parsing that keeps ids exact. Shopify's ids go past 2^53 (its documented samples use
 * 18-digit ids such as 603851970716743426) and JSON.parse silently rounds them, which would
 * merge or split contacts and orders. Integers that a number cannot hold stay strings.
 */
import { isSafeNumber, parse } from 'lossless-json';

export function parseExactJson(text: string): unknown {
  return parse(text, null, (digits: string) => (isSafeNumber(digits) ? Number(digits) : digits));
}
