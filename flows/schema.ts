/**
 * The flow language: one zod schema per part, and the TypeScript types derived from it.
 * The API validates with these schemas; the workflow and activities import the types only.
 *
 * Steps form a graph: each step has an id and, optionally, `next` (default: the step after it
 * in the list). Branching steps (splits, waits for an event) add their own step references
 * without changing this shape.
 */
import { z } from 'zod';
import { MAX_DELAY_MS, MIN_DELAY_MS, parseDuration } from './duration';

const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1-64 lowercase letters, digits, "-" or "_", starting with a letter or digit');

export const duration = z.string().superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write e.g. "30 seconds", "1 hour", "2 days", "1 week"` });
  } else if (ms < MIN_DELAY_MS || ms > MAX_DELAY_MS) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is out of range: from 1 second to 366 days` });
  }
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);

export const propertyCondition = z.discriminatedUnion('op', [
  z.strictObject({ property: z.string().min(1), op: z.enum(['exists', 'not_exists']) }),
  z.strictObject({ property: z.string().min(1), op: z.enum(['equals', 'not_equals', 'contains']), value: scalar }),
  z.strictObject({ property: z.string().min(1), op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.number() }),
]);
export type PropertyCondition = z.infer<typeof propertyCondition>;

export const eventName = z.string().min(1).max(200);

/** "This event happened since the journey started", optionally with property conditions. */
export const eventCondition = z.strictObject({
  event: eventName,
  where: z.array(propertyCondition).optional(),
});
export type EventCondition = z.infer<typeof eventCondition>;

export const trigger = z.strictObject({
  event: eventName,
  where: z.array(propertyCondition).optional(),
});
export type Trigger = z.infer<typeof trigger>;

const stepBase = {
  id: slug,
  /** The step to run after this one; default: the next step in the list. */
  next: slug.optional(),
  /** A line for people reading the flow or a journey's history. */
  label: z.string().max(200).optional(),
};

export const delayStep = z.strictObject({ ...stepBase, type: z.literal('delay'), duration });

export const emailStep = z.strictObject({
  ...stepBase,
  type: z.literal('email'),
  /** LiquidJS templates over `contact` and `event` (the trigger). */
  subject: z.string().min(1).max(998),
  html: z.string().min(1),
  text: z.string().optional(),
  from: z.email().optional(),
  /** Transactional mail (receipts) ignores marketing consent; marketing mail is the default. */
  transactional: z.boolean().default(false),
});

export const smsStep = z.strictObject({
  ...stepBase,
  type: z.literal('sms'),
  body: z.string().min(1).max(1600),
  transactional: z.boolean().default(false),
});

export const exitStep = z.strictObject({ ...stepBase, type: z.literal('exit'), reason: z.string().max(200).optional() });

export const step = z.discriminatedUnion('type', [delayStep, emailStep, smsStep, exitStep]);
export type Step = z.infer<typeof step>;
export type StepOf<T extends Step['type']> = Extract<Step, { type: T }>;

export const flowStatus = z.enum(['draft', 'live', 'paused']);
export type FlowStatus = z.infer<typeof flowStatus>;

/** What a client sends to create or replace a flow (`PUT /v1/flows/:id`). */
export const flowInput = z.strictObject({
  /** Optional in the body; when given it must match the URL. */
  id: slug.optional(),
  /** Optional optimistic-concurrency check: the version the client last read. */
  version: z.number().int().positive().optional(),
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  status: flowStatus.default('draft'),
  trigger,
  /** Flow filters: the journey ends as soon as one of these events happens. */
  exitWhen: z.array(eventCondition).default([]),
  steps: z.array(step).min(1).max(200),
});
export type FlowInput = z.input<typeof flowInput>;

/** A stored flow version: what a journey carries as its snapshot. */
export interface FlowDefinition {
  id: string;
  version: number;
  name: string;
  description?: string;
  status: FlowStatus;
  trigger: Trigger;
  exitWhen: EventCondition[];
  steps: Step[];
}

export const flowId = slug;
