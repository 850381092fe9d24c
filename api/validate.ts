import type { z } from 'zod';
import { parseWith } from '../flows/validate';
import { invalid } from './errors';

/** Parses a request part once at the edge; a failure is a 400 listing every issue with its path. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = parseWith(schema, input);
  if (!parsed.success) throw invalid(parsed.issues);
  return parsed.data;
}
