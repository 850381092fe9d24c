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

/** A run of digits (and dots) long enough to hold 16 digits, or a digit before an exponent; strings included, to be safe. */
const MAYBE_INEXACT = /[0-9.]{16}|[0-9][eE]/;

export function parseExactJson(text: string): unknown {
  if (!MAYBE_INEXACT.test(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined; // lossless-json below reports the error, in its own words as before
    }
    if (value !== undefined && keysOf(value) === colonsOutsideStrings(text)) return value;
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

/** In valid JSON, every colon outside a string separates a key from its value. */
function colonsOutsideStrings(text: string): number {
  let count = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) count++;
  }
  return count;
}
