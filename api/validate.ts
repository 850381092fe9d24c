import type { RequestParamHandler } from 'express';
import type { z } from 'zod';
import { parseWith, type Issue, type ValidationResult } from '../flows/validate';
import { invalid } from './errors';
import { unstorableJson, unstorableText } from '../connectors/storable-json';

/**
 * Parses one request part (a body, an event of a batch, a query): first what no schema can
 * say (NUL characters, lone surrogates, nesting), then the schema. Issues carry their path.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): ValidationResult<z.output<S>> {
  const unstorable = unstorableJson(input);
  if (unstorable) return { success: false, issues: [unstorable] };
  return parseWith(schema, input);
}

/** Parses a request part once at the edge; a failure is a 400 listing every issue with its path. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = parseRequest(schema, input);
  if (!parsed.success) throw invalid(parsed.issues);
  return parsed.data;
}

/**
 * A payload from outside (a webhook, a source's delivery) that is stored as it came, or that
 * connectors map field by field: any NUL, lone surrogate or excess nesting is a 400 naming its
 * path in the payload, before a mapping spreads it (or Postgres refuses it).
 */
export function storablePayloadOr400(payload: unknown, what: string, prefix: Issue['path'] = []): void {
  const unstorable = unstorableJson(payload);
  if (unstorable)
    throw invalid(
      [{ path: [...prefix, ...unstorable.path], message: unstorable.message }],
      `the ${what} cannot be stored: ${[...prefix, ...unstorable.path].join('.') || '(body)'} ${unstorable.message}`,
    );
}

/** Longest id (contact, flow) a URL may carry, like the ids events may carry. */
export const MAX_ID_LENGTH = 255;

/**
 * For `router.param(name, ...)`: a URL id Postgres can store and compare, else a 400 naming
 * it (a NUL or half a surrogate pair in `/v1/contacts/:id` would otherwise fail in SQL).
 */
export function storableParam(name: string): RequestParamHandler {
  return (_req, _res, next, value: string) => {
    const problem =
      unstorableText(value) ??
      (value.length > MAX_ID_LENGTH ? `is longer than ${MAX_ID_LENGTH} characters` : undefined);
    next(
      problem
        ? invalid([{ path: ['params', name], message: `${name} ${problem}` }], `URL parameter ${name} is invalid`)
        : undefined,
    );
  };
}
