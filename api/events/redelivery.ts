/**
 * Routes accepted events whose routing did not finish (Temporal was down, the process died).
 * Events are claimed with a lease, so several API processes can run this side by side.
 */
import { claimUnrouted } from '../../db/events';
import { routeStored } from '../../routing/router';
import type { IngestDeps } from './ingest';

export async function redeliverPending(deps: IngestDeps, opts = { olderThanMs: 10_000, leaseMs: 60_000, limit: 100 }): Promise<number> {
  const events = await claimUnrouted(deps.db, opts.olderThanMs, opts.leaseMs, opts.limit);
  let routed = 0;
  for (const event of events) {
    if ((await routeStored(deps, event)).routing === 'done') routed += 1;
  }
  return routed;
}

/** Runs redelivery every `intervalMs` until the returned function is called. */
export function startRedelivery(deps: IngestDeps, intervalMs = 5_000): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    redeliverPending(deps)
      .catch((err: Error) => deps.log.warn({ err: err.message }, 'redelivery pass failed'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
