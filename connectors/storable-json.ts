/**
 * What Postgres refuses to store, found before it gets there: text and jsonb reject NUL
 * characters and lone UTF-16 surrogates (half an emoji, as `slice()` easily produces), and a
 * value nested without limit makes every later JSON.stringify or recursive walk a hazard.
 * Each is reported as a 400 issue naming the path, never left to fail as a 500 in the database.
 */
import type { Issue } from '../flows/validate';

/** Nesting allowed inside one event, flow or other request part. */
export const MAX_JSON_DEPTH = 32;

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why this string cannot be stored, or undefined when it can. */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (LONE_SURROGATE.test(text))
    return 'contains a lone UTF-16 surrogate (half a character), which is not valid Unicode';
  return undefined;
}

/** A value still to look at; its path is kept as a link to its parent, built only for a problem found. */
interface Pending {
  value: unknown;
  key?: string | number;
  parent?: Pending;
  depth: number;
}

function pathOf(node: Pending): Issue['path'] {
  const path: Issue['path'] = [];
  for (let at: Pending | undefined = node; at?.parent; at = at.parent) path.push(at.key!);
  return path.reverse();
}

/**
 * The first problem in a parsed JSON value: unstorable text in a string or a key, or nesting
 * deeper than `maxDepth`. Iterative, so a hostile depth cannot overflow the stack here. Every
 * event of every batch passes here: no path array is built unless a problem is found.
 */
export function unstorableJson(
  value: unknown,
  opts: { maxDepth?: number; depthOnly?: boolean } = {},
): Issue | undefined {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const text = opts.depthOnly ? () => undefined : unstorableText;
  const pending: Pending[] = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const node = pending.pop()!;
    const current = node.value;
    if (typeof current === 'string') {
      const problem = text(current);
      if (problem) return { path: pathOf(node), message: problem };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (node.depth >= maxDepth) return { path: pathOf(node), message: `nested deeper than ${maxDepth} levels` };
    const depth = node.depth + 1;
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) pending.push({ value: current[i], key: i, parent: node, depth });
      continue;
    }
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      const problem = text(key);
      if (problem) return { path: [...pathOf(node), key], message: `key ${problem}` };
      pending.push({ value: (current as Record<string, unknown>)[key], key, parent: node, depth });
    }
  }
  return undefined;
}

// The instants JavaScript's Date, Postgres' timestamptz and the events' ISO text all hold alike.
const FIRST_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * A date-time from a connector (epoch milliseconds, or text Date can read) as UTC ISO text,
 * or why it cannot be stored: `new Date(1e300).toISOString()` throws, and a year past 9999
 * is refused by the events' schema. Every connector turns its dates into ISO text here.
 */
export function storableInstant(value: number | string): { iso: string } | { problem: string } {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) return { problem: `${JSON.stringify(value)} is not a date-time` };
  if (ms < FIRST_INSTANT_MS || ms > LAST_INSTANT_MS)
    return { problem: `${JSON.stringify(value)} is outside years 1-9999` };
  return { iso: new Date(ms).toISOString() };
}
