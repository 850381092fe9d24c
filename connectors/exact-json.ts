/**
 * JSON parsing that keeps ids exact. Shopify's ids go past 2^53 (its documented samples use
 * 18-digit ids such as 603851970716743426) and JSON.parse silently rounds them, which would
 * merge or split contacts and orders. Integers that a number cannot hold stay strings.
 *
 * lossless-json is a parser written in JavaScript, several times slower than JSON.parse and
 * much of a batch's cost. JSON.parse gives the same value when no number can be inexact (none
 * has 16 digits or an exponent: 15 significant digits always survive a double) and no object
 * repeats a key (lossless-json refuses a key repeated with another value, JSON.parse keeps the
 * last); for anything else, invalid JSON included, lossless-json parses and reports as before.
 */
import { isSafeNumber, parse } from 'lossless-json';

/**
 * A run of digits (and dots) long enough to hold 16 digits, or a digit before an exponent; strings included, to be
 * safe.
 */
const MAYBE_INEXACT = /[0-9.]{16}|[0-9][eE]/;

export function parseExactJson(text: string): unknown {
  if (!MAYBE_INEXACT.test(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined; // lossless-json below reports the error, in its own words as before
    }
    if (value !== undefined && keysOf(value) === jsonStructure(text).colons) return value;
  }
  return parse(text, null, (digits: string) => (isSafeNumber(digits) ? Number(digits) : digits));
}

/** Keys of every object in a parsed value: fewer than the text's key separators when a key was repeated. */
function keysOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += keysOf(item);
    return count;
  }
  for (const key in value) count += 1 + keysOf((value as Record<string, unknown>)[key]);
  return count;
}

/**
 * One pass over a JSON text, strings skipped: whether arrays and objects nest deeper than
 * `depthLimit` (it stops there), and how many colons it holds (in valid JSON, one per key).
 */
export function jsonStructure(
  text: string,
  depthLimit = Number.POSITIVE_INFINITY,
): { tooDeep: boolean; colons: number } {
  let depth = 0;
  let colons = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) colons++;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > depthLimit) return { tooDeep: true, colons };
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { tooDeep: false, colons };
}
