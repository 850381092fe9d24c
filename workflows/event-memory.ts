/**
 * What a journey remembers of the events signalled to it, in bounded space: per signal the
 * work is constant, however many events the contact sends (a bot, an engaged shopper).
 *
 * Conditions evaluated inside the workflow only ever look at events through their leaves
 * (an event condition, an engagement condition, a wait_for_event), so the journey keeps, per
 * leaf, only the events that can still change an answer:
 * - event condition: the newest `count.value + 1` matching events (by event time). The
 *   window (`within`, or since the trigger) is a suffix in time, so the newest matching events
 *   are the ones inside it; a count saturated at value + 1 compares exactly like the true
 *   count for gte, lte and eq.
 * - engagement: the first Delivered/Opened/Clicked event per message this journey sent.
 * - wait_for_event: a "matched since the wait began" flag, set when the event arrives.
 * `evaluate()` then runs over the union of what the leaves keep: the same answer as over
 * every event seen, because each leaf's count over the union lies between its saturated
 * count and the true count.
 *
 * Kept events are reduced to the property paths the flow reads, so the memory carried across
 * continue-as-new stays small even when signals carry whole payloads.
 */
import { ENGAGEMENT_EVENTS, matchesAllProperties } from '../flows/conditions';
import type { Condition, EventCondition, FlowDefinition, PropertyCondition } from '../flows/schema';
import type { ExitRule } from '../flows/exits';
import type { JourneyEvent, MemorySnapshot } from '../flows/journey-messages';

/** Event ids remembered for dedupe: redeliveries come soon after the first delivery. */
export const SEEN_IDS_KEPT = 2_000;
/**
 * Leaves whose `where` depends on the evaluation time (within_last, more_than_ago) cannot be
 * decided when the event arrives: their candidates are kept, the newest this many.
 */
export const TIME_DEPENDENT_KEPT = 1_000;
/** Engagement events for a message id this journey has not recorded yet (a race with the send's result). */
const UNKNOWN_ENGAGEMENT_KEPT = 50;

interface Leaf {
  condition: EventCondition;
  /** Events kept for this leaf (ids), oldest first by event time. */
  kept: JourneyEvent[];
  cap: number;
  timeDependent: boolean;
}

const ENGAGEMENT_NAMES: readonly string[] = Object.values(ENGAGEMENT_EVENTS);
const timeDependent = (where: readonly PropertyCondition[] | undefined) =>
  (where ?? []).some((p) => p.op === 'within_last' || p.op === 'more_than_ago');

/** The event conditions inside a condition, and whether it asks about engagement. */
function leavesOf(condition: Condition, out: { events: EventCondition[]; engagement: boolean }): void {
  if ('all' in condition) condition.all.forEach((c) => leavesOf(c, out));
  else if ('any' in condition) condition.any.forEach((c) => leavesOf(c, out));
  else if ('not' in condition) leavesOf(condition.not, out);
  else if ('message' in condition) out.engagement = true;
  else if ('event' in condition) out.events.push(condition);
}

/** Every condition the workflow itself evaluates: exits (flow filters, goal, unsubscribe) and splits. */
export function conditionsEvaluatedInWorkflow(flow: FlowDefinition, exits: readonly ExitRule[]): Condition[] {
  return [...exits.map((r) => r.condition), ...flow.steps.flatMap((s) => (s.type === 'split' ? [s.condition] : []))];
}

/** Copies only these dotted paths (`a.b.0.c`) of the properties; readPath reads the copy alike. */
export function projectProperties(
  properties: Record<string, unknown>,
  paths: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const dotted of paths) {
    const keys = dotted.split('.');
    let source: unknown = properties;
    for (const key of keys) {
      if (source === null || typeof source !== 'object') {
        source = undefined;
        break;
      }
      source = (source as Record<string, unknown>)[key];
    }
    if (source === undefined) continue;
    let target = out;
    keys.slice(0, -1).forEach((key) => {
      const next = target[key];
      target = (
        next !== null && typeof next === 'object' && !Array.isArray(next) ? next : (target[key] = {})
      ) as Record<string, unknown>;
    });
    target[keys[keys.length - 1]] = source;
  }
  return out;
}

export class EventMemory {
  private readonly seenIds: number[] = [];
  private readonly seenSet = new Set<number>();
  private readonly leaves: Leaf[];
  private readonly engagementWanted: boolean;
  /** First engagement event per "name message_id". */
  private readonly engagement = new Map<string, JourneyEvent>();
  private readonly paths: string[];
  private wait?: { event: string; where?: PropertyCondition[]; matched: boolean };

  constructor(
    conditions: readonly Condition[],
    waits: readonly { event: string; where?: PropertyCondition[] }[],
    private readonly sentMessageIds: () => ReadonlySet<string>,
    private readonly trigger: JourneyEvent,
  ) {
    const found = { events: [] as EventCondition[], engagement: false };
    conditions.forEach((c) => leavesOf(c, found));
    this.engagementWanted = found.engagement;
    this.leaves = found.events.map((condition) => {
      const dependent = timeDependent(condition.where);
      return {
        condition,
        kept: [],
        timeDependent: dependent,
        cap: dependent ? TIME_DEPENDENT_KEPT : (condition.count?.value ?? 1) + 1,
      };
    });
    const wherePaths = [...found.events.flatMap((c) => c.where ?? []), ...waits.flatMap((w) => w.where ?? [])].map(
      (p) => p.property,
    );
    this.paths = [...new Set([...wherePaths, ...(found.engagement ? ['message_id'] : [])])];
  }

  /** Already signalled (a redelivery): the caller ignores it. */
  has(id: number): boolean {
    return this.seenSet.has(id);
  }

  /** Remembers one new event; `now` is workflow time. */
  record(event: JourneyEvent, now: number): void {
    this.seenIds.push(event.id);
    this.seenSet.add(event.id);
    while (this.seenIds.length > SEEN_IDS_KEPT) this.seenSet.delete(this.seenIds.shift()!);

    const facts = { now, trigger: this.trigger };
    if (
      this.wait &&
      !this.wait.matched &&
      event.name === this.wait.event &&
      matchesAllProperties(event.properties, this.wait.where, facts) === true
    ) {
      this.wait.matched = true;
    }
    const slim: JourneyEvent = {
      id: event.id,
      messageId: event.messageId,
      name: event.name,
      timestamp: event.timestamp,
      properties: projectProperties(event.properties, this.paths),
    };
    for (const leaf of this.leaves) {
      if (event.name !== leaf.condition.event) continue;
      if (!leaf.timeDependent && matchesAllProperties(event.properties, leaf.condition.where, facts) !== true) continue;
      insertByTime(leaf.kept, slim);
      if (leaf.kept.length > leaf.cap) leaf.kept.shift();
    }
    if (this.engagementWanted && ENGAGEMENT_NAMES.includes(event.name)) {
      const messageId = typeof event.properties.message_id === 'string' ? event.properties.message_id : undefined;
      const key = `${event.name} ${messageId}`;
      if (messageId !== undefined && !this.engagement.has(key)) {
        this.engagement.set(key, slim);
        this.dropUnknownEngagement();
      }
    }
  }

  /** The events conditions are evaluated over (oldest first). */
  events(): JourneyEvent[] {
    const byId = new Map<number, JourneyEvent>();
    for (const leaf of this.leaves) for (const e of leaf.kept) byId.set(e.id, e);
    for (const e of this.engagement.values()) byId.set(e.id, e);
    return [...byId.values()].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || a.id - b.id);
  }

  /** A wait_for_event starts watching (matched: resumed after continue-as-new having matched). */
  startWait(step: { event: string; where?: PropertyCondition[] }, matched = false): void {
    this.wait = { event: step.event, where: step.where, matched };
  }

  waitMatched(): boolean {
    return this.wait?.matched ?? false;
  }

  endWait(): void {
    this.wait = undefined;
  }

  snapshot(): MemorySnapshot {
    return { seenIds: [...this.seenIds], events: this.events() };
  }

  /** Rebuilds from a snapshot: the kept events are kept again by the same leaves. */
  restore(snapshot: MemorySnapshot, now: number): void {
    for (const e of snapshot.events) this.record(e, now);
    this.seenIds.length = 0;
    this.seenSet.clear();
    for (const id of snapshot.seenIds) {
      this.seenIds.push(id);
      this.seenSet.add(id);
    }
  }

  /** Engagement for messages this journey never sent is only kept for a short race window. */
  private dropUnknownEngagement(): void {
    const sent = this.sentMessageIds();
    const unknown = [...this.engagement.entries()].filter(([, e]) => !sent.has(String(e.properties.message_id)));
    for (const [key] of unknown.slice(0, Math.max(0, unknown.length - UNKNOWN_ENGAGEMENT_KEPT)))
      this.engagement.delete(key);
  }
}

function insertByTime(list: JourneyEvent[], event: JourneyEvent): void {
  const at = Date.parse(event.timestamp);
  let i = list.length;
  while (i > 0 && Date.parse(list[i - 1].timestamp) > at) i -= 1;
  list.splice(i, 0, event);
}
