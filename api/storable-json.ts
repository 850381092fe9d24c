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
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (half a character), which is not valid Unicode';
  return undefined;
}

/**
 * The first problem in a parsed JSON value: unstorable text in a string or a key, or nesting
 * deeper than `maxDepth`. Iterative, so a hostile depth cannot overflow the stack here.
 */
export function unstorableJson(value: unknown, opts: { maxDepth?: number; depthOnly?: boolean } = {}): Issue | undefined {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const text = opts.depthOnly ? () => undefined : unstorableText;
  const pending: { value: unknown; path: Issue['path']; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (pending.length > 0) {
    const { value: current, path, depth } = pending.pop()!;
    if (typeof current === 'string') {
      const problem = text(current);
      if (problem) return { path, message: problem };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= maxDepth) return { path, message: `nested deeper than ${maxDepth} levels` };
    const entries: [string | number, unknown][] = Array.isArray(current) ? current.map((v, i) => [i, v]) : Object.entries(current);
    for (const [key, child] of entries) {
      if (typeof key === 'string') {
        const problem = text(key);
        if (problem) return { path: [...path, key], message: `key ${problem}` };
      }
      pending.push({ value: child, path: [...path, key], depth: depth + 1 });
    }
  }
  return undefined;
}
