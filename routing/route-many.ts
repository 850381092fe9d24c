/**
 * Routing many stored events at once (a batch just stored, a pass of the router loop): each
 * contact's events strictly one after the other in id order (a checkout starts its journey
 * before the order that ends it is signalled), different contacts concurrently. Every event
 * goes through `routeStored`, the one router with its one retry discipline.
 *
 * Order also holds between passes: in this process, a contact's events in a pass wait for the
 * same contact's events of passes begun before (two batches routed in the background); and a
 * contact with an earlier unrouted event elsewhere (deferred, or being routed by another
 * process) is left to the router loop, which claims a contact's events only in order. Once an
 * event of a contact is deferred, that contact's later events are left to the loop too. When
 * Temporal goes down mid-way, the events not tried yet are left to the loop as well.
 */
import { markRoutingFailed, type StoredEvent } from '../db/events';
import { resolveContactIds } from '../db/contact-merge';
import { contactRoutingState } from '../db/routing-state';
import { flowsOfPass } from './flows-of-pass';
import type { RoutingResult } from './route-event';
import { routeStored, type RouteOptions, type RouterDeps, type RoutingOutcome } from './router';
import { temporalHealth } from './temporal-health';

/** Contacts routed at once by default: enough to hide Temporal's and Postgres's latency. */
export const DEFAULT_ROUTING_CONCURRENCY = 32;
/**
 * Contacts routed at once in one process, whatever the passes under way (many batches routed
 * in the background, the router loop): more would only queue for the pool's connections.
 */
export const PROCESS_ROUTING_SLOTS = 32;

export type RouteManyOptions = RouteOptions & { concurrency?: number };

const DEFERRED: RoutingOutcome = { routing: 'deferred' };

/** Per database, per contact: when the passes under way in this process are done with the contact. */
const contactTails = new WeakMap<object, Map<string, Promise<void>>>();

/** Per database: the process's routing slots. */
const slotsOf = new WeakMap<object, Slots>();

class Slots {
  private free = PROCESS_ROUTING_SLOTS;
  private readonly waiting: (() => void)[] = [];

  async take(): Promise<void> {
    if (this.free > 0) return void (this.free -= 1);
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}

/**
 * How long the router loop leaves events routed in the background alone (routing a batch that
 * starts hundreds of journeys takes seconds); it takes over after, if this process died.
 */
export const BACKGROUND_ROUTING_LEASE_MS = 30_000;

/**
 * The /v1/batch shape, for every caller that answers before routing (batches, webhooks,
 * tracking links): stored events (leased for BACKGROUND_ROUTING_LEASE_MS) routed after the
 * answer; what is not routed here, the router loop routes.
 */
export function routeInBackground(deps: RouterDeps, events: StoredEvent[]): void {
  if (events.length === 0) return;
  routeStoredMany(deps, events).catch((err: unknown) =>
    deps.log.warn({ err: (err as Error).message }, 'background routing stopped; the router loop routes the rest'),
  );
}

/** Routes `events`; the outcomes are in the order of `events`. Never throws for one event's failure. */
export async function routeStoredMany(
  deps: RouterDeps,
  events: StoredEvent[],
  opts: RouteManyOptions = {},
): Promise<RoutingOutcome[]> {
  const { concurrency = DEFAULT_ROUTING_CONCURRENCY, ...routeOptions } = opts;
  const outcomes = new Array<RoutingOutcome>(events.length).fill(DEFERRED);
  if (events.length === 0) return outcomes;
  const health = temporalHealth(deps.workflows);
  // Flows are looked up once per pass and name, not once per event, and so are the segments
  // depending on each kind of fact; each contact's state once per pass: its canonical id, and
  // whether it has journeys to look up at all.
  const withoutJourneys = new Set<string>();
  const canonicalIds = new Map<string, string>();
  const passDeps: RouterDeps = {
    ...deps,
    flows: flowsOfPass(deps.db),
    contactsWithoutJourneys: withoutJourneys,
    canonicalIds,
  };

  const byContact = new Map<string, number[]>();
  for (const [index, event] of events.entries()) {
    const indexes = byContact.get(event.contactId);
    if (indexes) indexes.push(index);
    else byContact.set(event.contactId, [index]);
  }
  for (const indexes of byContact.values()) indexes.sort((a, b) => events[a].id - events[b].id);
  const chains = [...byContact].map(([contactId, indexes]) => ({
    contactId,
    indexes,
    ...queueBehind(deps.db, contactId),
  }));

  let halted = false;
  const leave = async (indexes: number[], reason: string) => {
    for (const index of indexes) {
      // Due at once for the loop; it still routes this contact's events only in order.
      await markRoutingFailed(deps.db, events[index].id, reason, 0).catch((err: Error) =>
        deps.log.warn(
          { err: err.message, eventId: events[index].id },
          'could not leave the event to the router loop; its lease will run out',
        ),
      );
    }
  };

  const routeChain = async (indexes: number[], marks: Promise<void>[]) => {
    for (const [position, index] of indexes.entries()) {
      if (halted) return leave(indexes.slice(position), 'Temporal unavailable (not tried)');
      let outcome: RoutingOutcome;
      try {
        outcome = await routeStored(passDeps, events[index], { ...routeOptions, marks });
      } catch (err) {
        // Postgres failed under the router: the event keeps its lease and the loop takes it.
        deps.log.warn(
          { err: (err as Error).message, eventId: events[index].id },
          'routing failed; the event is left to the router loop',
        );
        outcome = DEFERRED;
      }
      outcomes[index] = outcome;
      const journeys = outcome.journeys;
      if (journeys && journeys.started.length + journeys.alreadyInFlow.length > 0)
        withoutJourneys.delete(events[index].contactId);
      if (outcome.routing === 'done') continue;
      if (health.isDown()) halted = true;
      return leave(
        indexes.slice(position + 1),
        `waits for event ${events[index].id} of this contact to be routed first`,
      );
    }
  };

  let slots = slotsOf.get(deps.db);
  if (!slots) slotsOf.set(deps.db, (slots = new Slots()));
  const routeContact = async (chain: (typeof chains)[number]) => {
    let slot = false;
    // The routed marks of the contact's events, written before the contact is released.
    const marks: Promise<void>[] = [];
    try {
      // The slot only once the passes before are done with the contact: a pass waiting on
      // another must not hold what that one needs.
      await chain.after;
      await slots.take();
      slot = true;
      // Read right before the contact's events are routed (after the passes ahead of this one).
      const state = await contactRoutingState(
        deps.db,
        chain.contactId,
        chain.indexes.map((i) => events[i].id),
      );
      if (state.earlierUnrouted !== undefined)
        return await leave(
          chain.indexes,
          `waits for event ${state.earlierUnrouted} of this contact to be routed first`,
        );
      // Routed meanwhile by the pass that had them before (a lease ran out): not again, which
      // would only signal the journeys a second time.
      for (const index of chain.indexes) {
        if (state.routed.has(events[index].id))
          outcomes[index] = { routing: 'done', journeys: state.routed.get(events[index].id) as RoutingResult };
      }
      const toRoute = chain.indexes.filter((index) => !state.routed.has(events[index].id));
      if (state.merged)
        canonicalIds.set(
          chain.contactId,
          (await resolveContactIds(deps.db, [chain.contactId])).get(chain.contactId) ?? chain.contactId,
        );
      else {
        canonicalIds.set(chain.contactId, chain.contactId);
        if (!state.liveJourneys) withoutJourneys.add(chain.contactId);
      }
      await routeChain(toRoute, marks);
    } catch (err) {
      deps.log.warn(
        { err: (err as Error).message, contactId: chain.contactId },
        "routing failed; the contact's events are left to the router loop",
      );
    } finally {
      await Promise.all(marks);
      if (slot) slots.give();
      chain.done();
    }
  };

  let next = 0;
  const lane = async () => {
    while (next < chains.length) await routeContact(chains[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), chains.length) }, lane));
  return outcomes;
}

/** Takes the contact's place in this process's queue: `after` resolves when the passes before are done with it. */
function queueBehind(db: object, contactId: string): { after: Promise<void>; done: () => void } {
  let tails = contactTails.get(db);
  if (!tails) contactTails.set(db, (tails = new Map()));
  const after = tails.get(contactId) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  tails.set(contactId, mine);
  return {
    after,
    done: () => {
      done();
      if (tails.get(contactId) === mine) tails.delete(contactId);
    },
  };
}
