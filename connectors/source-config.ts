/**
 * What a generic source is: how its deliveries are authenticated, what it may fetch before
 * mapping, and how its JSON becomes a track call. One zod schema for the API, the database
 * and the receiving route; every expression is checked when the source is saved.
 */
import { z } from 'zod';
import { expressionProblem, MAX_EXPRESSION_LENGTH } from './mapping';

export const expression = z
  .string()
  .trim()
  .min(1)
  .max(MAX_EXPRESSION_LENGTH)
  .superRefine((value, ctx) => {
    const problem = expressionProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * A shared secret that signs the raw body: Typeform's `Typeform-Signature: sha256=<base64>`, GitHub's
 * `X-Hub-Signature-256: sha256=<hex>`.
 */
const hmacAuth = z.strictObject({
  type: z.literal('hmac'),
  header: z.string().trim().min(1).max(100),
  /** Left out: kept on a replacement, generated on a creation (shown once, in the answer). */
  secret: z.string().min(16, 'use a secret of at least 16 characters').max(500).optional(),
  encoding: z.enum(['base64', 'hex']).default('base64'),
  /** Text before the digest in the header, e.g. "sha256=". */
  prefix: z.string().max(50).default(''),
});

/** For platforms that cannot sign (Eventbrite): a long random token in the webhook URL's `?token=`. */
const tokenAuth = z.strictObject({
  type: z.literal('token'),
  /** Left out: kept on a replacement, generated on a creation (shown once, in the answer). */
  token: z.string().min(24, 'use a token of at least 24 characters').max(500).optional(),
});

export const sourceAuth = z.discriminatedUnion('type', [hmacAuth, tokenAuth]);
export type SourceAuth = z.output<typeof sourceAuth>;

/**
 * Platforms that send only a link (Eventbrite's `api_url`) are fetched before mapping. The token
 * is only ever sent under `urlPrefix`, so a forged payload cannot send it (or us) elsewhere.
 */
const sourceFetch = z.strictObject({
  url: expression,
  urlPrefix: z.url({ protocol: /^https?$/ }),
  /** Left out: kept on a replacement; null removes it. */
  bearerToken: z.string().min(1).max(2_000).nullable().optional(),
  timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
  maxBytes: z.number().int().min(1_024).max(5_000_000).default(1_000_000),
});
export type SourceFetch = z.output<typeof sourceFetch>;

export const sourceMapping = z.strictObject({
  /** The contact: userId, else the email (lower-cased), else anonymousId. */
  userId: expression.optional(),
  anonymousId: expression.optional(),
  email: expression.optional(),
  phone: expression.optional(),
  /** Required: a constant is a quoted JSONata string, e.g. `'Form Submitted'`. */
  event: expression,
  properties: expression.optional(),
  /** More traits for the contact (email and phone are added to them). */
  traits: expression.optional(),
  timestamp: expression.optional(),
  /** The platform's id of this delivery; without it, the SHA-256 of the raw body identifies a retry. */
  deliveryId: expression.optional(),
});
export type SourceMapping = z.output<typeof sourceMapping>;

export const sourceConfig = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(2_000).optional(),
    auth: sourceAuth,
    /** Deliveries to acknowledge without storing (a platform's test ping, topics not wanted): true ignores. */
    ignoreWhen: expression.optional(),
    fetch: sourceFetch.optional(),
    mapping: sourceMapping,
  })
  .refine(
    (s) => s.mapping.userId !== undefined || s.mapping.email !== undefined || s.mapping.anonymousId !== undefined,
    {
      message: 'map userId, email or anonymousId: an event needs a contact',
      path: ['mapping', 'userId'],
    },
  );
export type SourceConfig = z.output<typeof sourceConfig>;
