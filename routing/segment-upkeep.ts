/**
 * Keeps live segments live as facts arrive: the router calls this for every stored event
 * after routing it. Only the segments that depend on the fact (the dependency index computed at
 * save, kept in memory for a quarter of a second: an event no segment depends on costs no query) are
 * re-evaluated, for the event's contact only, and what changed is applied, all in ONE
 * statement (db/segments.ts evaluateContact): the entries and exits with their events (routed by
 * the router loop, in bulk) and, when waiting can flip a membership earlier than the contact's
 * clock is set for, that moment with `arm_pending`. Temporal is not called here: the arming pass
 * (routing/segment-clock-arming.ts) signals the clock, so the routing deadline of a request never
 * waits on it. An error propagates: the router defers the event and routes it again, which is
 * safe (the stored membership decides; message ids are deterministic).
 */
import type { WorkflowClient } from '@temporalio/client';
import type { StoredEvent } from '../db/events';
import type { Db } from '../db/pool';
import {
  dependsOn,
  evaluateContact,
  liveSegments,
  SEGMENT_ENTERED,
  SEGMENT_EXITED,
  type FactChange,
  type Segment,
} from '../db/segments';
import type { Logger } from '../runtime/logger';
import { armPendingClocks } from './segment-clock-arming';
import { EVENTS } from '../flows/event-names';

export interface SegmentUpkeepDeps {
  db: Db;
  workflows: WorkflowClient;
  log?: Logger;
}

/** The names the audience helpers store their changes under (audiences.md). */
const LIST_EVENTS = new Set<string>([EVENTS.listJoined, EVENTS.listLeft]);
const CONSENT_EVENTS = new Set<string>([EVENTS.consentChanged]);

/** What kind of fact an event is, for the dependency index. */
export function factChangeOf(event: StoredEvent): FactChange {
  // An alias or identify that merged another contact into this one: its events, traits, lists
  // and consent arrived at once, so every live segment may have changed.
  if (event.context.mergedFrom !== undefined) return { every: true };
  const traits = event.context.traits;
  const carriesTraits =
    event.type === 'identify' || (traits !== null && typeof traits === 'object' && Object.keys(traits).length > 0);
  if (event.type !== 'track' || !event.name) return { traits: carriesTraits };
  const segmentId =
    event.name === SEGMENT_ENTERED || event.name === SEGMENT_EXITED ? event.properties.segment_id : undefined;
  return {
    eventName: event.name,
    traits: carriesTraits,
    segmentId: typeof segmentId === 'string' ? segmentId : undefined,
    lists: LIST_EVENTS.has(event.name),
    consent: CONSENT_EVENTS.has(event.name),
  };
}

export async function keepSegmentsLive(deps: SegmentUpkeepDeps, event: StoredEvent): Promise<void> {
  // The later of the clock and the event's time: an event stamped ahead (or a test server's
  // skipped clock) is not counted as in the future.
  await upkeep(
    deps,
    factChangeOf(event),
    event.contactId,
    new Date(Math.max(Date.now(), Date.parse(event.occurredAt))),
    event.id,
  );
}

/**
 * How long a process keeps the list of live segments (and their dependencies) before reading it
 * again: most events concern no segment, and this spares them a query. A new segment is missed
 * for at most this long, so a build starts its first chunk only after it (services/segment-build.ts):
 * an event upkept with a list that lacks the segment was stored before that chunk reads the
 * events, and the build counts it.
 */
export const LIVE_SEGMENTS_CACHE_MS = 250;

const cached = new WeakMap<object, { at: number; segments: Promise<Segment[]> }>();

/** The live segments an arriving fact can change (read at most every LIVE_SEGMENTS_CACHE_MS per process). */
async function segmentsDependingOn(db: Db, change: FactChange): Promise<Segment[]> {
  let entry = cached.get(db);
  if (!entry || performance.now() - entry.at >= LIVE_SEGMENTS_CACHE_MS) {
    // Timed from before the read: the list is never older than the cache says.
    entry = { at: performance.now(), segments: liveSegments(db) };
    cached.set(db, entry);
    entry.segments.catch(() => cached.get(db) === entry && cached.delete(db));
  }
  return (await entry.segments).filter((s) => dependsOn(s, change));
}

async function upkeep(
  deps: SegmentUpkeepDeps,
  change: FactChange,
  contactId: string,
  now: Date,
  causeEventId?: number,
): Promise<void> {
  const segments = await segmentsDependingOn(deps.db, change);
  if (segments.length === 0) return;
  const results = await evaluateContact(deps.db, segments, contactId, now, 'event', causeEventId, { storeClock: true });
  // In the background: the clock's moment is stored, a crash before it is armed leaves it pending.
  if (results.some((r) => r.clockStored)) void armPendingClocks(deps);
}
