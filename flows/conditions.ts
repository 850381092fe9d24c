/**
 * Evaluating conditions: trigger filters (API), flow filters and splits (workflow and
 * activities). Pure and deterministic: safe inside the workflow sandbox.
 *
 * Three-valued: `undefined` means "cannot tell from these facts". The workflow evaluates with
 * what the journey itself saw (its trigger, the events signalled to it); when that leaves the
 * answer open, an activity evaluates again with the contact's profile and stored events.
 */
import { parseDuration } from './duration';
import type { AggregateCondition, Condition, EventCondition, OccurrenceCondition, PropertyCondition } from './schema';
import { EVENTS } from './event-names';

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
  /** Segments the contact is a member of; undefined when not loaded. */
  segments?: string[];
  /** Lists the contact is a member of; undefined when not loaded. */
  lists?: string[];
  /** Consent status per channel (a channel missing: never asked); undefined when not loaded. */
  consent?: Record<string, string>;
  /**
   * Event conditions already answered over every stored event (in SQL, as segments answer them), by
   * `eventConditionKey`; they take precedence over `events`, which a loader caps.
   */
  eventAnswers?: Record<string, boolean>;
}

/** The key of an event condition in `Facts.eventAnswers`. */
export const eventConditionKey = (condition: EventCondition): string => JSON.stringify(condition);

/** A contact's consent on a channel it was never asked about. */
export const NEVER_ASKED = 'never_asked';

/** The event names that stand for engagement with a message we sent. */
export const ENGAGEMENT_EVENTS = {
  delivered: EVENTS.emailDelivered,
  opened: EVENTS.emailOpened,
  clicked: EVENTS.emailClicked,
} as const;

/** `a.b.c` paths into nested properties (`products.0.category` works too). */
export function readPath(source: unknown, dotted: string): unknown {
  let current: unknown = source;
  for (const key of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** JavaScript's Number() for numbers and numeric strings (audiences/segment-sql.ts follows it in SQL). */
export function asNumber(value: unknown): number | undefined {
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

export function matchesProperty(
  properties: Record<string, unknown>,
  condition: PropertyCondition,
  facts: Pick<Facts, 'trigger' | 'now'>,
): Truth {
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
      return condition.op === 'gt'
        ? left > right
        : condition.op === 'gte'
          ? left >= right
          : condition.op === 'lt'
            ? left < right
            : left <= right;
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

export function matchesAllProperties(
  properties: Record<string, unknown>,
  conditions: readonly PropertyCondition[] | undefined,
  facts: Pick<Facts, 'trigger' | 'now'>,
): Truth {
  return combine(conditions ?? [], (condition) => matchesProperty(properties, condition, facts), false);
}

/** Where an event condition starts counting: its trailing window, else the journey's start. */
export function windowStart(condition: EventCondition, facts: Pick<Facts, 'now' | 'trigger'>): number {
  if (condition.within) return facts.now - (parseDuration(condition.within) ?? 0);
  return facts.trigger ? Date.parse(facts.trigger.timestamp) : Number.NEGATIVE_INFINITY;
}

function matchingEvents(
  events: readonly EventFacts[],
  condition: EventCondition,
  facts: Facts,
): { matched: EventFacts[]; unknown: boolean } {
  const from = windowStart(condition, facts);
  const matched: EventFacts[] = [];
  let unknown = false;
  for (const e of events) {
    const at = Date.parse(e.timestamp);
    // No upper bound: an event stamped a little ahead (client clock) still happened.
    if (e.name !== condition.event || at < from) continue;
    const match = matchesAllProperties(e.properties, condition.where, facts);
    if (match === true) matched.push(e);
    if (match === undefined) unknown = true;
  }
  return { matched, unknown };
}

function countMatching(
  events: readonly EventFacts[],
  condition: EventCondition,
  facts: Facts,
): { count: number; unknown: boolean } {
  const { matched, unknown } = matchingEvents(events, condition, facts);
  return { count: matched.length, unknown };
}

/** An event condition that aggregates (sum/min/max, first/last) needs every matching event. */
export function hasAggregate(condition: EventCondition): boolean {
  return (
    condition.sum !== undefined ||
    condition.min !== undefined ||
    condition.max !== undefined ||
    condition.first !== undefined ||
    condition.last !== undefined
  );
}

function compareNumber(left: number, op: AggregateCondition['op'], right: number): boolean {
  return op === 'gt'
    ? left > right
    : op === 'gte'
      ? left >= right
      : op === 'lt'
        ? left < right
        : op === 'lte'
          ? left <= right
          : left === right;
}

/**
 * The same rules the SQL compiler (audiences/segment-sql.ts) follows: a sum over no value is
 * 0; a min or max, first or last over no event does not hold; non-numeric values are skipped.
 * `more_than_ago` includes its boundary, so "90 days after the last order" is that instant.
 */
function aggregatesHold(matched: readonly EventFacts[], condition: EventCondition, now: number): boolean {
  const values = (property: string) =>
    matched.map((e) => asNumber(readPath(e.properties, property))).filter((v): v is number => v !== undefined);
  if (
    condition.sum &&
    !compareNumber(
      values(condition.sum.property).reduce((a, b) => a + b, 0),
      condition.sum.op,
      condition.sum.value,
    )
  )
    return false;
  for (const [agg, pick] of [
    [condition.min, Math.min],
    [condition.max, Math.max],
  ] as const) {
    if (!agg) continue;
    const found = values(agg.property);
    if (found.length === 0 || !compareNumber(pick(...found), agg.op, agg.value)) return false;
  }
  const times = matched.map((e) => Date.parse(e.timestamp));
  for (const [occ, pick] of [
    [condition.first, Math.min],
    [condition.last, Math.max],
  ] as const) {
    if (!occ) continue;
    if (times.length === 0 || !occurrenceHolds(pick(...times), occ, now)) return false;
  }
  return true;
}

export function occurrenceHolds(at: number, occurrence: OccurrenceCondition, now: number): boolean {
  const span = parseDuration(occurrence.value) ?? 0;
  return occurrence.op === 'within_last' ? at > now - span : at <= now - span;
}

function compareCount(count: number, condition: EventCondition): boolean {
  const { op, value } = condition.count ?? { op: 'gte', value: 1 };
  return op === 'gte' ? count >= value : op === 'lte' ? count <= value : count === value;
}

function evaluateEvent(condition: EventCondition, facts: Facts): Truth {
  const answered = facts.eventAnswers?.[eventConditionKey(condition)];
  if (answered !== undefined) return answered;
  if (hasAggregate(condition)) {
    // Aggregates need every matching event: only stored events can tell.
    if (!facts.events) return undefined;
    const { matched, unknown } = matchingEvents(facts.events, condition, facts);
    if (unknown) return undefined;
    return (
      (condition.count === undefined || compareCount(matched.length, condition)) &&
      aggregatesHold(matched, condition, facts.now)
    );
  }
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
  const names: string[] =
    engaged === 'delivered'
      ? [name, ENGAGEMENT_EVENTS.opened, ENGAGEMENT_EVENTS.clicked]
      : engaged === 'opened'
        ? [name, ENGAGEMENT_EVENTS.clicked]
        : [name];
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
  if ('profile' in condition)
    return facts.profile ? matchesProperty(facts.profile, condition.profile, facts) : undefined;
  if ('trigger' in condition)
    return facts.trigger ? matchesProperty(facts.trigger.properties, condition.trigger, facts) : undefined;
  if ('message' in condition) return evaluateEngagement(condition.message, condition.engaged, facts);
  // Audiences are stored facts: a journey cannot tell, the activities load them.
  if ('segment' in condition) return facts.segments ? facts.segments.includes(condition.segment) : undefined;
  if ('list' in condition) return facts.lists ? facts.lists.includes(condition.list) : undefined;
  if ('consent' in condition)
    return facts.consent
      ? (facts.consent[condition.consent.channel] ?? NEVER_ASKED) === condition.consent.status
      : undefined;
  return evaluateEvent(condition, facts);
}

/** The audience facts a condition needs loaded (segments, lists, consent). */
export function audiencesIn(condition: Condition): { segments: boolean; lists: boolean; consent: boolean } {
  const found = { segments: false, lists: false, consent: false };
  const visit = (c: Condition): void => {
    if ('all' in c) c.all.forEach(visit);
    else if ('any' in c) c.any.forEach(visit);
    else if ('not' in c) visit(c.not);
    else if ('segment' in c) found.segments = true;
    else if ('list' in c) found.lists = true;
    else if ('consent' in c) found.consent = true;
  };
  visit(condition);
  return found;
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

/** Every event condition (not engagement) a condition holds, at any depth. */
export function eventConditionsIn(condition: Condition): EventCondition[] {
  if ('all' in condition) return condition.all.flatMap(eventConditionsIn);
  if ('any' in condition) return condition.any.flatMap(eventConditionsIn);
  if ('not' in condition) return eventConditionsIn(condition.not);
  if ('event' in condition) return [condition];
  return [];
}

/**
 * The event condition with its `{ fromTrigger }` values read from the trigger, for evaluating it outside the journey
 * (in SQL). Undefined when a value cannot be stated as a plain one the same way (no trigger, a missing or non-scalar
 * property, a number or date that is none): the caller evaluates that condition over loaded events instead.
 */
export function withTriggerValues(
  condition: EventCondition,
  trigger: EventFacts | undefined,
): EventCondition | undefined {
  if (!condition.where?.some((w) => 'value' in w && typeof w.value === 'object' && w.value !== null)) return condition;
  const where: PropertyCondition[] = [];
  for (const w of condition.where) {
    if (!('value' in w) || typeof w.value !== 'object' || w.value === null) {
      where.push(w);
      continue;
    }
    if (!trigger) return undefined;
    const value = readPath(trigger.properties, w.value.fromTrigger);
    if (w.op === 'gt' || w.op === 'gte' || w.op === 'lt' || w.op === 'lte') {
      const number = asNumber(value);
      if (number === undefined) return undefined;
      where.push({ ...w, value: number });
    } else if (w.op === 'before' || w.op === 'after') {
      const time = asTime(value);
      if (time === undefined || !(Math.abs(time) <= 8.64e15)) return undefined;
      where.push({ ...w, value: new Date(time).toISOString() });
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      where.push({ ...w, value } as PropertyCondition);
    } else return undefined;
  }
  return { ...condition, where };
}
