/**
 * Validation at the edge: schema, step graph, template syntax, condition size and time zones,
 * reported as `{ path, message }` issues so a 400 can say exactly what is wrong and where.
 */
import { IANAZone } from 'luxon';
import type { z } from 'zod';
import { segmentConditionIssues } from './segment-deps';
import { checkStepGraph, type GraphIssue } from './graph';
import { MESSAGE_EVENTS } from './event-names';
import { inactivityOf } from './inactivity';
import { flowInput, type Condition } from './schema';
import { liquid, templateFields } from './templates';

export type Issue = GraphIssue;
export type ValidationResult<T> = { success: true; data: T } | { success: false; issues: Issue[] };

/**
 * Conditions run inside every journey on every event (and in the workflow's replay), so their
 * size is bounded: nesting of all/any/not, and conditions (including `where` clauses) per flow.
 */
export const MAX_CONDITION_DEPTH = 8;
export const MAX_CONDITIONS_PER_FLOW = 500;

export function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: issue.message,
  }));
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown): ValidationResult<z.output<S>> {
  const parsed = schema.safeParse(input);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, issues: zodIssues(parsed.error) };
}

export type ValidFlowInput = z.output<typeof flowInput>;

export function validateFlow(input: unknown): ValidationResult<ValidFlowInput> {
  const parsed = parseWith(flowInput, input);
  if (!parsed.success) return parsed;
  const issues = [
    ...checkStepGraph(parsed.data.steps),
    ...templateIssues(parsed.data),
    ...conditionIssues(parsed.data),
    ...profileTriggerIssues(parsed.data),
    ...timeZoneIssues(parsed.data),
    ...selfExitIssues(parsed.data),
    ...inactivityIssues(parsed.data),
    ...waitMessageIssues(parsed.data),
  ];
  return issues.length > 0 ? { success: false, issues } : parsed;
}

function templateIssues(flow: ValidFlowInput): Issue[] {
  const issues: Issue[] = [];
  flow.steps.forEach((step, index) => {
    for (const [field, source] of Object.entries(templateFields(step))) {
      try {
        liquid.parse(source);
      } catch (err) {
        // LiquidJS messages carry "line:N, col:M"; keep them, they point into the template.
        issues.push({
          path: ['steps', index, ...field.split('.')],
          message: `template error in step "${step.id}": ${(err as Error).message}`,
        });
      }
    }
  });
  return issues;
}

/** Every condition tree of the flow with its path. */
function conditionRoots(flow: ValidFlowInput): { path: Issue['path']; condition: Condition }[] {
  const roots: { path: Issue['path']; condition: Condition }[] = [];
  if ('profileChange' in flow.trigger)
    roots.push({ path: ['trigger', 'profileChange'], condition: flow.trigger.profileChange });
  else if ('event' in flow.trigger && flow.trigger.contact)
    roots.push({ path: ['trigger', 'contact'], condition: flow.trigger.contact });
  flow.exitWhen.forEach((condition, i) => roots.push({ path: ['exitWhen', i], condition }));
  flow.steps.forEach((step, i) => {
    if (step.type === 'split') roots.push({ path: ['steps', i, 'condition'], condition: step.condition });
  });
  return roots;
}

function conditionIssues(flow: ValidFlowInput): Issue[] {
  const issues: Issue[] = [];
  let count =
    ('where' in flow.trigger ? (flow.trigger.where?.length ?? 0) : 0) +
    (inactivityOf(flow)?.where?.length ?? 0) +
    (flow.goal.where?.length ?? 0);
  flow.steps.forEach((step) => {
    if (step.type === 'wait_for_event') count += 1 + (step.where?.length ?? 0);
  });
  const walk = (condition: Condition, path: Issue['path'], depth: number): void => {
    count += 1;
    if (depth > MAX_CONDITION_DEPTH) {
      issues.push({
        path,
        message: `conditions are nested more than ${MAX_CONDITION_DEPTH} levels deep (all/any/not)`,
      });
      return;
    }
    if ('all' in condition) condition.all.forEach((c, i) => walk(c, [...path, 'all', i], depth + 1));
    else if ('any' in condition) condition.any.forEach((c, i) => walk(c, [...path, 'any', i], depth + 1));
    else if ('not' in condition) walk(condition.not, [...path, 'not'], depth + 1);
    else if ('event' in condition) count += condition.where?.length ?? 0;
  };
  for (const root of conditionRoots(flow)) walk(root.condition, root.path, 1);
  if (count > MAX_CONDITIONS_PER_FLOW)
    issues.push({
      path: [],
      message: `the flow has ${count} conditions; at most ${MAX_CONDITIONS_PER_FLOW} are allowed`,
    });
  return issues;
}

/**
 * A profile-change trigger is decided on the profile before and after an identify: an event,
 * a segment, a list or consent would never be seen there, and the flow would never start.
 * Refused with the way that works: a segment, and a trigger on its Segment Entered event.
 */
function profileTriggerIssues(flow: ValidFlowInput): Issue[] {
  if (!('profileChange' in flow.trigger)) return [];
  const issues: Issue[] = [];
  const walk = (condition: Condition, path: Issue['path']): void => {
    if ('all' in condition) condition.all.forEach((c, i) => walk(c, [...path, 'all', i]));
    else if ('any' in condition) condition.any.forEach((c, i) => walk(c, [...path, 'any', i]));
    else if ('not' in condition) walk(condition.not, [...path, 'not']);
    else if (!('profile' in condition)) {
      const kind = 'event' in condition ? `event "${condition.event}"` : Object.keys(condition)[0];
      issues.push({
        path,
        message:
          `a profileChange trigger only sees the profile, never ${kind}: the flow would never start. ` +
          'Use a segment with this condition (POST /v1/segments) and trigger on its entry: ' +
          '{ "event": "Segment Entered", ' +
          '"where": [{ "property": "segment_id", "op": "equals", "value": "<segment id>" }] }',
      });
    }
  };
  walk(flow.trigger.profileChange, ['trigger', 'profileChange']);
  return issues;
}

/** Time zone names must be ones the runtime knows (IANA), or every journey would fall back silently. */
function timeZoneIssues(flow: ValidFlowInput): Issue[] {
  const issues: Issue[] = [];
  flow.steps.forEach((step, index) => {
    if (step.type === 'delay_until' && step.timezone !== undefined && !IANAZone.isValidZone(step.timezone)) {
      issues.push({
        path: ['steps', index, 'timezone'],
        message: `"${step.timezone}" is not an IANA time zone (e.g. "Europe/Paris", "America/New_York", "UTC")`,
      });
    }
  });
  return issues;
}

/**
 * A flow filter its own trigger satisfies: "trigger Order Completed, exit on Order Completed".
 * The send guard counts stored events from the trigger's timestamp, the trigger included, so
 * such a journey exits at its first message and never sends: the "no order for 90 days" flow
 * users write first. Refused, pointing to what works (the inactivity trigger, or a filter on
 * another event than the trigger: `order_id` not equal to the trigger's).
 */
function selfExitIssues(flow: ValidFlowInput): Issue[] {
  if (!('event' in flow.trigger)) return [];
  const name = flow.trigger.event;
  const message =
    `this holds on the trigger itself ("${name}"): the journey would exit at its first message. ` +
    `For "no ${name} for 90 days" use { "trigger": { "inactivity": { "event": "${name}", "for": "90 days" } } } ` +
    "(entered 90 days after each contact's last one, re-armed by every new one); to leave on a later one, " +
    'filter it apart from the trigger, e.g. ' +
    '"where": [{ "property": "order_id", "op": "not_equals", "value": { "fromTrigger": "order_id" } }]';
  const issues: Issue[] = [];
  flow.exitWhen.forEach((c, i) => {
    if (
      !('event' in c) ||
      c.event !== name ||
      c.where?.length ||
      c.count ||
      c.sum ||
      c.min ||
      c.max ||
      c.first ||
      c.last
    )
      return;
    issues.push({ path: ['exitWhen', i], message: `flow filter: ${message}` });
  });
  if (flow.goal.exitOnGoal && flow.goal.event === name && !flow.goal.where?.length)
    issues.push({ path: ['goal'], message: `goal with exitOnGoal: ${message}` });
  return issues;
}

/**
 * The inactivity trigger's event filter becomes a segment's condition: it has no trigger event
 * to compare with (`fromTrigger`). Reported at the trigger's `where`.
 */
function inactivityIssues(flow: ValidFlowInput): Issue[] {
  const t = inactivityOf(flow);
  if (!t?.where) return [];
  return segmentConditionIssues({ event: t.event, where: t.where }, new Set()).map((issue) => ({
    ...issue,
    path: ['trigger', 'inactivity', ...issue.path.slice(1)],
  }));
}

const SEND_STEPS: readonly string[] = ['email', 'sms', 'push'];

/** A wait's `message` names "any", "last" or a send step of the flow, and only on an event about a message. */
function waitMessageIssues(flow: ValidFlowInput): Issue[] {
  const issues: Issue[] = [];
  flow.steps.forEach((step, i) => {
    if (step.type !== 'wait_for_event' || step.message === undefined) return;
    const path = ['steps', i, 'message'];
    if (!MESSAGE_EVENTS.includes(step.event)) {
      issues.push({
        path,
        message: `"message" applies to events about a message we sent (${MESSAGE_EVENTS.join(', ')})`,
      });
      return;
    }
    if (step.message === 'any' || step.message === 'last') return;
    const target = flow.steps.find((s) => s.id === step.message);
    if (!target || !SEND_STEPS.includes(target.type))
      issues.push({
        path,
        message: `"${step.message}" is not an email, sms or push step of this flow ("any" or "last" also work)`,
      });
  });
  return issues;
}
