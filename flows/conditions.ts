/**
 * Evaluating conditions: trigger filters (API), flow filters and splits (workflow and
 * activities). Pure and deterministic: safe inside the workflow sandbox.
 *
 * Three-valued: `undefined` means "cannot tell from these facts". The workflow evaluates with
 * what the journey itself saw (its trigger, the events signalled to it); when that leaves the
 * answer open, an activity evaluates again with the contact's profile and stored events.
 */
import { parseDuration } from './duration';
import type { Condition, EventCondition, PropertyCondition } from './schema';

export type Truth = boolean | undefined;

/** What a condition needs to know about an event, wherever it comes from. */
export interface EventFacts {
  name: string;
  properties: Record<string, unknown>;
  /** ISO-8601 */
  timestamp: string;
}

export interface Facts {
  /** Evaluation time (workflow time in a journey), ms since epoch. */
  now: number;
  /** The journey's trigger; event conditions without `within` count from its timestamp. */
  trigger?: EventFacts;
  /** The contact's traits plus id, email, phone; undefined when not loaded. */
  profile?: Record<string, unknown>;
  /** The contact's stored events for the names the condition mentions; undefined when not loaded. */
  events?: EventFacts[];
  /** Events signalled to this journey (incomplete: only what it listens to). */
  journeyEvents?: EventFacts[];
  /** Message ids this journey sent, by step id. */
  sentMessages?: Record<string, string>;
}

/** The event names that stand for engagement with a message we sent. */
export const ENGAGEMENT_EVENTS = { delivered: 'Email Delivered', opened: 'Email Opened', clicked: 'Email Clicked' } as const;

/** `a.b.c` paths into nested properties (`products.0.category` works too). */
export function readPath(source: unknown, dotted: string): unknown {
  let current: unknown = source;
  for (const key of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function asTime(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const time = typeof value === 'number' ? value : Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** A condition's comparison value; `{ fromTrigger }` reads the trigger's property (undefined: unknown). */
function resolveValue(value: unknown, facts: Pick<Facts, 'trigger'>): { known: boolean; value: unknown } {
  if (value !== null && typeof value === 'object' && 'fromTrigger' in value) {
    if (!facts.trigger) return { known: false, value: undefined };
    return { known: true, value: readPath(facts.trigger.properties, (value as { fromTrigger: string }).fromTrigger) };
  }
  return { known: true, value };
}

export function matchesProperty(properties: Record<string, unknown>, condition: PropertyCondition, facts: Pick<Facts, 'trigger' | 'now'>): Truth {
  const actual = readPath(properties, condition.property);
  if (!('value' in condition)) return (actual !== undefined && actual !== null) === (condition.op === 'exists');
  const resolved = resolveValue(condition.value, facts);
  if (!resolved.known) return undefined;
  const expected = resolved.value;
  switch (condition.op) {
    case 'equals':
      return actual === expected || (asNumber(actual) !== undefined && asNumber(actual) === asNumber(expected));
    case 'not_equals':
      return !(actual === expected || (asNumber(actual) !== undefined && asNumber(actual) === asNumber(expected)));
    case 'contains':
      if (Array.isArray(actual)) return actual.includes(expected);
      return typeof actual === 'string' && typeof expected === 'string' && actual.includes(expected);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const left = asNumber(actual);
      const right = asNumber(expected);
      if (left === undefined || right === undefined) return false;
      return condition.op === 'gt' ? left > right : condition.op === 'gte' ? left >= right : condition.op === 'lt' ? left < right : left <= right;
    }
    case 'before':
    case 'after': {
      const left = asTime(actual);
      const right = asTime(expected);
      if (left === undefined || right === undefined) return false;
      return condition.op === 'before' ? left < right : left > right;
    }
    case 'within_last':
    case 'more_than_ago': {
      const at = asTime(actual);
      const span = parseDuration(condition.value);
      if (at === undefined || span === undefined) return false;
      return condition.op === 'within_last' ? at <= facts.now && at >= facts.now - span : at < facts.now - span;
    }
  }
}

/**
 * Three-valued "all" (decisive = false) and "any" (decisive = true): the first decisive answer
 * settles it; otherwise any unknown leaves the whole unknown.
 */
function combine<T>(items: readonly T[], test: (item: T) => Truth, decisive: boolean): Truth {
  let result: Truth = !decisive;
  for (const item of items) {
    const one = test(item);
    if (one === decisive) return decisive;
    if (one === undefined) result = undefined;
  }
  return result;
}

export function matchesAllProperties(properties: Record<string, unknown>, conditions: readonly PropertyCondition[] | undefined, facts: Pick<Facts, 'trigger' | 'now'>): Truth {
  return combine(conditions ?? [], (condition) => matchesProperty(properties, condition, facts), false);
}

/** Where an event condition starts counting: its trailing window, else the journey's start. */
export function windowStart(condition: EventCondition, facts: Pick<Facts, 'now' | 'trigger'>): number {
  if (condition.within) return facts.now - (parseDuration(condition.within) ?? 0);
  return facts.trigger ? Date.parse(facts.trigger.timestamp) : Number.NEGATIVE_INFINITY;
}

function countMatching(events: readonly EventFacts[], condition: EventCondition, facts: Facts): { count: number; unknown: boolean } {
  const from = windowStart(condition, facts);
  let count = 0;
  let unknown = false;
  for (const e of events) {
    const at = Date.parse(e.timestamp);
    // No upper bound: an event stamped a little ahead (client clock) still happened.
    if (e.name !== condition.event || at < from) continue;
    const match = matchesAllProperties(e.properties, condition.where, facts);
    if (match === true) count += 1;
    if (match === undefined) unknown = true;
  }
  return { count, unknown };
}

function compareCount(count: number, condition: EventCondition): boolean {
  const { op, value } = condition.count ?? { op: 'gte', value: 1 };
  return op === 'gte' ? count >= value : op === 'lte' ? count <= value : count === value;
}

function evaluateEvent(condition: EventCondition, facts: Facts): Truth {
  if (facts.events) {
    const { count, unknown } = countMatching(facts.events, condition, facts);
    return unknown ? undefined : compareCount(count, condition);
  }
  // Only the events signalled to the journey: enough to say "yes, it happened", never "no".
  if (facts.journeyEvents && (condition.count?.op ?? 'gte') === 'gte') {
    const { count } = countMatching(facts.journeyEvents, condition, facts);
    if (compareCount(count, condition)) return true;
  }
  return undefined;
}

function evaluateEngagement(stepId: string, engaged: keyof typeof ENGAGEMENT_EVENTS, facts: Facts): Truth {
  const messageId = facts.sentMessages?.[stepId];
  if (facts.sentMessages && !messageId) return false; // that step sent nothing (yet)
  const name = ENGAGEMENT_EVENTS[engaged];
  // A click implies an open, an open implies delivery.
  const names: string[] = engaged === 'delivered' ? [name, ENGAGEMENT_EVENTS.opened, ENGAGEMENT_EVENTS.clicked] : engaged === 'opened' ? [name, ENGAGEMENT_EVENTS.clicked] : [name];
  const seen = (events?: readonly EventFacts[]) =>
    events?.some((e) => names.includes(e.name) && (messageId === undefined || e.properties.message_id === messageId));
  if (seen(facts.journeyEvents) || seen(facts.events)) return true;
  return facts.events ? false : undefined;
}

export function evaluate(condition: Condition, facts: Facts): Truth {
  if ('all' in condition) return combine(condition.all, (c) => evaluate(c, facts), false);
  if ('any' in condition) return combine(condition.any, (c) => evaluate(c, facts), true);
  if ('not' in condition) {
    const inner = evaluate(condition.not, facts);
    return inner === undefined ? undefined : !inner;
  }
  if ('profile' in condition) return facts.profile ? matchesProperty(facts.profile, condition.profile, facts) : undefined;
  if ('trigger' in condition) return facts.trigger ? matchesProperty(facts.trigger.properties, condition.trigger, facts) : undefined;
  if ('message' in condition) return evaluateEngagement(condition.message, condition.engaged, facts);
  return evaluateEvent(condition, facts);
}

/** Every event name a condition mentions (to load them, or to listen for them). */
export function eventNamesIn(condition: Condition): string[] {
  if ('all' in condition) return condition.all.flatMap(eventNamesIn);
  if ('any' in condition) return condition.any.flatMap(eventNamesIn);
  if ('not' in condition) return eventNamesIn(condition.not);
  if ('message' in condition) return Object.values(ENGAGEMENT_EVENTS);
  if ('event' in condition) return [condition.event];
  return [];
}

/** The earliest event time a condition can look at (for loading events). */
export function earliestEventTime(condition: Condition, facts: Pick<Facts, 'now' | 'trigger'>): number {
  if ('all' in condition) return Math.min(...condition.all.map((c) => earliestEventTime(c, facts)));
  if ('any' in condition) return Math.min(...condition.any.map((c) => earliestEventTime(c, facts)));
  if ('not' in condition) return earliestEventTime(condition.not, facts);
  if ('event' in condition) return windowStart(condition, facts);
  if ('message' in condition) return facts.trigger ? Date.parse(facts.trigger.timestamp) : Number.NEGATIVE_INFINITY;
  return Number.POSITIVE_INFINITY;
}
