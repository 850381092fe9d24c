/**
 * Conditions over event properties, shared by trigger matching (API), flow filters evaluated
 * on signals (workflow) and the same filters re-checked against stored events (activities).
 * Pure and deterministic: safe inside the workflow sandbox.
 */
import type { EventCondition, PropertyCondition } from './schema';

/** What a condition needs to know about an event, wherever it comes from. */
export interface EventFacts {
  name: string;
  properties: Record<string, unknown>;
  /** ISO-8601 */
  timestamp: string;
}

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

export function matchesProperty(properties: Record<string, unknown>, condition: PropertyCondition): boolean {
  const actual = readPath(properties, condition.property);
  switch (condition.op) {
    case 'exists':
      return actual !== undefined && actual !== null;
    case 'not_exists':
      return actual === undefined || actual === null;
    case 'equals':
      return actual === condition.value || (asNumber(actual) !== undefined && asNumber(actual) === asNumber(condition.value));
    case 'not_equals':
      return !matchesProperty(properties, { ...condition, op: 'equals' });
    case 'contains':
      if (Array.isArray(actual)) return actual.includes(condition.value);
      return typeof actual === 'string' && typeof condition.value === 'string' && actual.includes(condition.value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const left = asNumber(actual);
      const right = asNumber(condition.value);
      if (left === undefined || right === undefined) return false;
      if (condition.op === 'gt') return left > right;
      if (condition.op === 'gte') return left >= right;
      if (condition.op === 'lt') return left < right;
      return left <= right;
    }
  }
}

export function matchesAllProperties(properties: Record<string, unknown>, conditions: readonly PropertyCondition[] = []): boolean {
  return conditions.every((condition) => matchesProperty(properties, condition));
}

/**
 * Does this event satisfy an event condition ("Order Completed since the journey started")?
 * `journeyStartedAt` is the trigger event's timestamp: an event at the same instant counts,
 * so an order sent together with its checkout still ends the journey.
 */
export function matchesEventCondition(event: EventFacts, condition: EventCondition, journeyStartedAt: string): boolean {
  if (event.name !== condition.event) return false;
  if (Date.parse(event.timestamp) < Date.parse(journeyStartedAt)) return false;
  return matchesAllProperties(event.properties, condition.where);
}

/** The first flow filter this event satisfies, or undefined. */
export function firstMatchingExit(
  event: EventFacts,
  exitWhen: readonly EventCondition[],
  journeyStartedAt: string,
): EventCondition | undefined {
  return exitWhen.find((condition) => matchesEventCondition(event, condition, journeyStartedAt));
}

/** Event names a journey of this flow wants delivered as signals. */
export function eventsListenedTo(exitWhen: readonly EventCondition[]): string[] {
  return [...new Set(exitWhen.map((condition) => condition.event))];
}
