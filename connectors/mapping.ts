/**
 * The mapping language of generic sources: each field of a track call (userId, email, event,
 * properties…) is a JSONata expression over the incoming JSON, e.g.
 * `form_response.answers[type='email'].email`. JSONata is a pure expression language: it has
 * no access to the filesystem, the network or the process. What could still run long is held
 * by its own guardrails (time, recursion depth, sequence length), and regular expressions,
 * which a crafted pattern could make backtrack for ever in one uninterruptible call, are
 * refused when the mapping is saved.
 */
import jsonata from 'jsonata';

/** Guardrails for one evaluation; a mapping over a webhook payload needs a few milliseconds. */
export const EVALUATION_LIMITS = { timeout: 250, stack: 200, sequence: 10_000 } as const;
export const MAX_EXPRESSION_LENGTH = 2_000;
/** What one field may produce: more is a mapping error, not a row in Postgres. */
export const MAX_RESULT_CHARS = 256 * 1024;
/** `$pad` is the one built-in that allocates what its argument says; a mapping pads for display only. */
export const MAX_PAD_WIDTH = 1_000;

export class MappingError extends Error {
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

/** Why an expression cannot be saved, or undefined when it can. */
export function expressionProblem(expression: string): string | undefined {
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(expression);
  } catch (err) {
    return `not a valid JSONata expression: ${errorMessage(err)}`;
  }
  return containsRegex(compiled.ast())
    ? 'regular expressions are not allowed in mappings (they cannot be interrupted)'
    : undefined;
}

// The AST is untyped JSON; any node (or nested array of nodes) of type "regex" is refused.
function containsRegex(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(containsRegex);
  if (node === null || typeof node !== 'object') return false;
  if ((node as { type?: unknown }).type === 'regex') return true;
  return Object.values(node).some(containsRegex);
}

/**
 * Evaluates one saved expression. `$fetched` is the document fetched before mapping (if the
 * source fetches one). `$eval` is shadowed: it would parse a new expression at run time and
 * so get past the regex check; `$pad` is bounded, so one call cannot allocate gigabytes.
 */
export async function evaluateExpression(
  path: (string | number)[],
  expression: string,
  input: unknown,
  bindings: { fetched?: unknown },
): Promise<unknown> {
  try {
    const compiled = jsonata(expression, { ...EVALUATION_LIMITS });
    const result: unknown = await compiled.evaluate(input, {
      fetched: bindings.fetched,
      eval: () => {
        throw new Error('$eval is not available in mappings');
      },
      pad: boundedPad,
    });
    return plain(path, result);
  } catch (err) {
    if (err instanceof MappingError) throw err;
    throw new MappingError(path, `${expression} failed: ${errorMessage(err)}`);
  }
}

function boundedPad(text: unknown, width: unknown, char: unknown = ' '): string | undefined {
  if (text === undefined) return undefined;
  if (typeof width !== 'number' || !Number.isInteger(width) || Math.abs(width) > MAX_PAD_WIDTH)
    throw new Error(`$pad width must be an integer of at most ${MAX_PAD_WIDTH}`);
  const str = typeof text === 'string' ? text : JSON.stringify(text);
  const fill = typeof char === 'string' && char.length > 0 ? char : ' ';
  return width < 0 ? str.padStart(-width, fill) : str.padEnd(width, fill);
}

// JSONata returns its sequences as arrays with extra flags, and functions as objects: keep JSON only.
function plain(path: (string | number)[], value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return undefined;
  const text = JSON.stringify(value);
  if (text === undefined) return undefined;
  if (text.length > MAX_RESULT_CHARS)
    throw new MappingError(path, `gave ${text.length} characters of JSON, more than the ${MAX_RESULT_CHARS} allowed`);
  return JSON.parse(text) as unknown;
}

function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err && typeof err.message === 'string') {
    const code = 'code' in err && typeof err.code === 'string' ? ` (${err.code})` : '';
    return `${err.message}${code}`;
  }
  return String(err);
}
