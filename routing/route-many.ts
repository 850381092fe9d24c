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
import { earlierUnrouted, markRoutingFailed, type StoredEvent } from '../db/events';
import { flowsOfPass } from './flows-of-pass';
import { routeStored, type RouteOptions, type RouterDeps, type RoutingOutcome } from './router';
import { temporalHealth } from './temporal-health';

/** Contacts routed at once by default: enough to hide Temporal's and Postgres's latency. */
export const DEFAULT_ROUTING_CONCURRENCY = 32;

export type RouteManyOptions = RouteOptions & { concurrency?: number };

const DEFERRED: RoutingOutcome = { routing: 'deferred' };

/** Per database, per contact: when the passes under way in this process are done with the contact. */
const contactTails = new WeakMap<object, Map<string, Promise<void>>>();

/** Routes `events`; the outcomes are in the order of `events`. Never throws for one event's failure. */
export async function routeStoredMany(deps: RouterDeps, events: StoredEvent[], opts: RouteManyOptions = {}): Promise<RoutingOutcome[]> {
  const { concurrency = DEFAULT_ROUTING_CONCURRENCY, ...routeOptions } = opts;
  const outcomes = new Array<RoutingOutcome>(events.length).fill(DEFERRED);
  if (events.length === 0) return outcomes;
  const health = temporalHealth(deps.workflows);
  // Flows are looked up once per pass and name, not once per event.
  const passDeps: RouterDeps = { ...deps, flows: flowsOfPass(deps.db) };

  const byContact = new Map<string, number[]>();
  for (const [index, event] of events.entries()) {
    const indexes = byContact.get(event.contactId);
    if (indexes) indexes.push(index);
    else byContact.set(event.contactId, [index]);
  }
  for (const indexes of byContact.values()) indexes.sort((a, b) => events[a].id - events[b].id);
  const chains = [...byContact].map(([contactId, indexes]) => ({ contactId, indexes, ...queueBehind(deps.db, contactId) }));

  let halted = false;
  const leave = async (indexes: number[], reason: string) => {
    for (const index of indexes) {
      // Due at once for the loop; it still routes this contact's events only in order.
      await markRoutingFailed(deps.db, events[index].id, reason, 0).catch((err: Error) =>
        deps.log.warn({ err: err.message, eventId: events[index].id }, 'could not leave the event to the router loop; its lease will run out'),
      );
    }
  };

  let earlier: Map<string, number>;
  try {
    earlier = await earlierUnrouted(deps.db, new Map(chains.map((c) => [c.contactId, events[c.indexes[0]].id])));
  } catch (err) {
    for (const chain of chains) chain.done();
    // Postgres failed: the events keep their lease and the loop takes them in order.
    deps.log.warn({ err: (err as Error).message }, 'routing pass failed; its events are left to the router loop');
    return outcomes;
  }

  const routeChain = async (indexes: number[]) => {
    for (const [position, index] of indexes.entries()) {
      if (halted) return leave(indexes.slice(position), 'Temporal unavailable (not tried)');
      let outcome: RoutingOutcome;
      try {
        outcome = await routeStored(passDeps, events[index], routeOptions);
      } catch (err) {
        // Postgres failed under the router: the event keeps its lease and the loop takes it.
        deps.log.warn({ err: (err as Error).message, eventId: events[index].id }, 'routing failed; the event is left to the router loop');
        outcome = DEFERRED;
      }
      outcomes[index] = outcome;
      if (outcome.routing === 'done') continue;
      if (health.isDown()) halted = true;
      return leave(indexes.slice(position + 1), `waits for event ${events[index].id} of this contact to be routed first`);
    }
  };

  const routeContact = async (chain: (typeof chains)[number]) => {
    try {
      await chain.after;
      if (earlier.has(chain.contactId)) {
        // Routed meanwhile by the pass ahead of this one in this process? Else leave it.
        const still = await earlierUnrouted(deps.db, new Map([[chain.contactId, events[chain.indexes[0]].id]]));
        const first = still.get(chain.contactId);
        if (first !== undefined) return await leave(chain.indexes, `waits for event ${first} of this contact to be routed first`);
      }
      await routeChain(chain.indexes);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, contactId: chain.contactId }, 'routing failed; the contact\'s events are left to the router loop');
    } finally {
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
