/**
 * The one router: every stored fact (API events, engagement, profile changes made by steps)
 * reaches Temporal through `routeStored`, with one retry discipline:
 * - an outage (routing/temporal-errors.ts) leaves the event unrouted with a backoff, without
 *   counting against it, and opens the breaker; the router loop claims it again;
 * - any other failure counts: the event is routed again with a backoff until its failure
 *   budget is spent, then what failed is dead-lettered and the event marked routed, so the
 *   contact's later events go on (routing/dead-letters.ts);
 * - what Temporal refuses for good for one flow is recorded on the event and dead-lettered at once.
 * A request's own event is not routed inline while an earlier event of its contact is still
 * unrouted: the router loop routes the contact's events in order.
 */
import { countRoutingFailure, markRouted, markRoutingFailed, type StoredEvent } from '../db/events';
import { releaseEntries } from '../db/journey-entries';
import type { Db } from '../db/pool';
import { earlierUnroutedEvent } from '../db/routing-state';
import type { Logger } from '../runtime/logger';
import { countRouting } from '../metrics/registry';
import { letterExhausted, letterRefusals, ROUTING_FAILURE_BUDGET } from './dead-letters';
import { keepSegmentsLive } from './segment-upkeep';
import { emptyRouting, routeByType, UnfinishedRouting, type RoutingDeps, type RoutingResult } from './route-event';
import { isAccessFailure, isTemporalUnavailable, RoutingDeferred } from './temporal-errors';
import { temporalHealth } from './temporal-health';

export interface RouterDeps extends RoutingDeps {
  db: Db;
  log: Logger;
  /** Failed routing attempts (outages not counted) before an event is dead-lettered. */
  routingFailureBudget?: number;
}

/**
 * How long a request waits on Temporal before answering "deferred" (the event is stored
 * either way and the router loop routes it): a client never waits seconds on an outage.
 */
export const INLINE_ROUTING_DEADLINE_MS = 800;
/** The router loop has no one waiting: it gives Temporal longer. */
export const LOOP_ROUTING_DEADLINE_MS = 10_000;

export interface RoutingOutcome {
  routing: 'done' | 'deferred';
  journeys?: RoutingResult;
}

export interface RouteOptions {
  deadlineMs?: number;
  /** A request routing its own event: skip Temporal while it is known to be down. */
  inline?: boolean;
  /**
   * A pass routing a contact's events one after the other: the routed mark is not waited for
   * but added here, so the marks of the contact's events (and of the other contacts routed at
   * that moment) are written in one statement. The pass waits for them before it is done with
   * the contact; nothing reads a mark before that (the events are leased to the pass meanwhile).
   */
  marks?: Promise<void>[];
}

/** Routes a stored event and records the outcome on it; used on ingest and by the router loop. */
export async function routeStored(
  deps: RouterDeps,
  event: StoredEvent,
  opts: RouteOptions = {},
): Promise<RoutingOutcome> {
  const health = temporalHealth(deps.workflows);
  if (opts.inline && health.isDown()) {
    // Answer at once; the loop routes the event as soon as Temporal answers again.
    await markRoutingFailed(deps.db, event.id, 'Temporal unavailable (not tried)', 0);
    return { routing: 'deferred' };
  }
  if (opts.inline) {
    // An order tracked right after a batched checkout still being routed must not reach the
    // journeys first: the loop claims a contact's events only in order.
    const earlier = await earlierUnroutedEvent(deps.db, event.contactId, event.id);
    if (earlier !== undefined) {
      await markRoutingFailed(deps.db, event.id, `waits for event ${earlier} of this contact to be routed first`, 0);
      return { routing: 'deferred' };
    }
  }
  const deadlineMs = opts.deadlineMs ?? (opts.inline ? INLINE_ROUTING_DEADLINE_MS : LOOP_ROUTING_DEADLINE_MS);
  const attempt = routeAndRecord(deps, event, deadlineMs, opts.marks);
  if (!opts.inline) return attempt;
  // The client's gRPC retries may sleep past the deadline before giving up: a request does not
  // wait for that. The attempt goes on in the background and records its own outcome.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs + 100)));
  const first = await Promise.race([attempt, late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  health.markDown();
  return { routing: 'deferred' };
}

/** One routing pass under a gRPC deadline; never throws (a failure is recorded for a retry). */
async function routeAndRecord(
  deps: RouterDeps,
  event: StoredEvent,
  deadlineMs: number,
  marks?: Promise<void>[],
): Promise<RoutingOutcome> {
  const health = temporalHealth(deps.workflows);
  let journeys: RoutingResult;
  try {
    journeys = await deps.workflows.withDeadline(Date.now() + deadlineMs, async () => {
      const routed = await routeByType(deps, event);
      // Segments depending on this fact, for this contact; a failure defers the event like routing.
      await keepSegmentsLive(deps, event);
      return routed;
    });
  } catch (err) {
    const message = (err as Error).message;
    const outage = !(err instanceof UnfinishedRouting || err instanceof RoutingDeferred) && isTemporalUnavailable(err);
    await releaseEntries(deps.db, event.id).catch(() => undefined);
    if (outage) {
      health.markDown(Date.now(), isAccessFailure(err) ? 'access' : 'unreachable');
      deps.log.warn(
        { err: message, eventId: event.id },
        'routing deferred: Temporal unavailable; routed once it is back',
      );
      await markRoutingFailed(deps.db, event.id, message).catch(() => undefined);
      return { routing: 'deferred' };
    }
    const failures = await countRoutingFailure(deps.db, event.id, message).catch(() => undefined);
    if (failures === undefined || failures < (deps.routingFailureBudget ?? ROUTING_FAILURE_BUDGET)) {
      deps.log.warn({ err: message, eventId: event.id, failures }, 'routing failed; the event will be routed again');
      return { routing: 'deferred' };
    }
    try {
      journeys = (await letterExhausted(deps, event, err, failures)) ?? emptyRouting();
    } catch (letterErr) {
      deps.log.warn({ err: (letterErr as Error).message, eventId: event.id }, 'could not dead-letter the event');
      return { routing: 'deferred' };
    }
    return record(deps, event, journeys, marks, message);
  }
  return record(deps, event, journeys, marks);
}

/** The event is routed (some parts may have failed for good): dead letters first, then the mark. */
async function record(
  deps: RouterDeps,
  event: StoredEvent,
  journeys: RoutingResult,
  marks: Promise<void>[] | undefined,
  exhausted?: string,
): Promise<RoutingOutcome> {
  if (exhausted === undefined) {
    try {
      await letterRefusals(deps, event, journeys, 1);
    } catch (err) {
      // Not marked: routed again later, which letters what is missing (and redoes nothing else).
      deps.log.warn({ err: (err as Error).message, eventId: event.id }, 'could not dead-letter a refused part');
      return { routing: 'deferred' };
    }
  }
  countRouting(journeys);
  const failed = journeys.failed.map((f) => `${f.workflowId}: ${f.error}`);
  const error = exhausted ?? (failed.length ? failed.join('; ') : null);
  if (error)
    deps.log.warn({ eventId: event.id, failed: journeys.failed }, 'event routed, but some journeys could not take it');
  const marked = markRouted(deps.db, event.id, journeys, error).catch((err: Error) => {
    // Routed but not marked: the loop routes it again, which changes nothing (entries, seen ids).
    deps.log.warn({ err: err.message, eventId: event.id }, 'event routed, but its routed mark was not written');
  });
  if (marks) marks.push(marked);
  else await marked;
  return { routing: 'done', journeys };
}
