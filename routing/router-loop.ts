/**
 * The router loop: routes what requests did not (Temporal was down, the process died, the
 * deadline passed) and every fact stored without a request (profile changes made by steps).
 * It polls often (a due event is routed within about a second) and claims events with a lease
 * and SKIP LOCKED, so it can run in every API and worker process. While Temporal is down it
 * only probes, and releases the backed-off events the moment Temporal answers again. (Journey
 * reconciliation runs on a Temporal Schedule: workflows/maintenance.ts.)
 */
import { claimUnrouted, releaseBackedOff } from '../db/events';
import { databaseBreaker } from '../db/pool';
import { DEFAULT_ROUTING_CONCURRENCY, routeStoredMany } from './route-many';
import type { RouterDeps } from './router';
import { armPendingClocks } from './segment-clock-arming';
import { temporalHealth } from './temporal-health';

export interface RouterLoopOptions {
  /** Pause between passes that found nothing to do. */
  intervalMs: number;
  /** How long a claimed event belongs to this router (longer than the loop's routing deadline). */
  leaseMs: number;
  /** Events claimed per pass. */
  batch: number;
  /** Contacts routed at once within a pass (each contact's events one after the other). */
  concurrency: number;
}

export const DEFAULT_ROUTER_LOOP: RouterLoopOptions = {
  intervalMs: 500,
  leaseMs: 30_000,
  batch: 200,
  concurrency: DEFAULT_ROUTING_CONCURRENCY,
};

/**
 * One pass: claims due events (a contact's only in order, see claimUnrouted) and routes them,
 * contacts concurrently, each contact's events in order; returns how many were routed.
 */
export async function routePending(
  deps: RouterDeps,
  opts: Pick<RouterLoopOptions, 'leaseMs' | 'batch'> &
    Partial<Pick<RouterLoopOptions, 'concurrency'>> = DEFAULT_ROUTER_LOOP,
): Promise<number> {
  const health = temporalHealth(deps.workflows);
  if (health.isDown() || health.wasDown) {
    // Refused access (a key, a namespace) answers the probe like health: releasing the backed-off
    // events then would retry them all every pass; they keep their backoff instead.
    const unreachable = health.wasUnreachable;
    if (!(await health.probe())) return 0;
    const released = unreachable ? await releaseBackedOff(deps.db) : 0;
    if (released) deps.log.info({ released }, 'Temporal answers again: routing the deferred events');
  }
  const events = await claimUnrouted(deps.db, opts.leaseMs, opts.batch);
  // Temporal going down during the pass leaves the rest due for the next pass (after a probe).
  const outcomes = await routeStoredMany(deps, events, {
    concurrency: opts.concurrency ?? DEFAULT_ROUTING_CONCURRENCY,
  });
  // Segment clocks stored to be armed (left pending by a process that died, or Temporal down).
  await armPendingClocks(deps);
  return outcomes.filter((o) => o.routing === 'done').length;
}

export interface RouterLoop {
  /** Stops after the pass under way, if any. */
  stop(): Promise<void>;
}

export function startRouterLoop(deps: RouterDeps, options: Partial<RouterLoopOptions> = {}): RouterLoop {
  const opts = { ...DEFAULT_ROUTER_LOOP, ...options };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();

  const pass = async (): Promise<boolean> => {
    let busy = false;
    // Postgres known to be hung: each query would fail at once; the breaker's probe says when it is back.
    if (databaseBreaker(deps.db)?.isOpen) return busy;
    try {
      // A full batch routed: more may be waiting, go on at once.
      busy = (await routePending(deps, opts)) >= opts.batch;
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'router pass failed');
    }
    return busy;
  };
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = pass().then((busy) => schedule(busy ? 0 : opts.intervalMs));
    }, delay);
    timer.unref();
  };
  schedule(0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
