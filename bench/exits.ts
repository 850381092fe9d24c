/**
 * Fault 2: purchase -> journey closed, with many journeys waiting. Every waiting journey is an
 * abandoned cart in its one-hour delay with the exit filter `Order Completed`. One exit is timed
 * from the moment the order is sent until the journey's workflow is closed (the long-poll of
 * its result answers), two ways:
 * - api: `POST /v1/track` of `Order Completed`; the API stores it, finds the running journey
 *   and signals it;
 * - bare: the same signal from a bare Temporal client (no HTTP, no Postgres).
 * The two paths alternate task by task in one load (even tasks api, odd tasks bare), so both
 * see the same backlog, worker and machine at the same moments.
 */
import { performance } from 'node:perf_hooks';
import type { WorkflowClient } from '@temporalio/client';
import type { FlowInput } from '../flows/schema';
import { abandonedCart } from '../test/fixtures/flows';
import type { journeyWorkflow } from '../workflows/journey';
import { contactEventSignal, type JourneyEvent, type JourneyResult } from '../workflows/messages';
import type { EnteredJourney } from './enter';
import type { ApiClient } from './http';
import { withDeadline } from './journeys';
import { runBounded } from './load';

export const WAITING_FLOW_ID = 'bench-waiting';

/** The fixture as it is: an hour before the first reminder, so every journey waits the whole run. */
export const waitingFlow: FlowInput = { ...abandonedCart, name: 'Abandoned cart (benchmark: waiting journeys)' };

export interface ExitSide {
  latenciesMs: number[];
  failures: string[];
}

export interface ExitRun {
  concurrency: number;
  api: ExitSide;
  bare: ExitSide;
  seconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The journey left by the order's flow filter (anything else is a failed exit). */
function checkExit(journey: EnteredJourney, result: JourneyResult): string | null {
  if (result.exit?.reason === 'flow_filter') return null;
  return `${journey.contactId}: closed ${result.status} without the order's exit (${JSON.stringify(result.exit ?? null)})`;
}

/** How long one exit may take before it counts as failed (a journey that never closes must not hang the run). */
const EXIT_DEADLINE_MS = 120_000;

async function closed(workflows: WorkflowClient, journey: EnteredJourney): Promise<JourneyResult> {
  return withDeadline(`${journey.contactId}'s journey to close`, EXIT_DEADLINE_MS, workflows.getHandle<typeof journeyWorkflow>(journey.workflowId, journey.runId).result());
}

/**
 * Only the 202 is required of the answer: whether it lists the signalled journey depends on
 * whether routing finishes before the API answers; the journey closing is what counts.
 */
async function apiExit(api: ApiClient, workflows: WorkflowClient, journey: EnteredJourney): Promise<string | null> {
  const res = await api.request('POST', '/v1/track', {
    userId: journey.contactId,
    event: 'Order Completed',
    properties: { order_id: `order-${journey.contactId}`, total: 84.5, currency: 'EUR' },
    messageId: `order-${journey.contactId}`,
  });
  if (res.status !== 202) return `${journey.contactId}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`;
  return checkExit(journey, await closed(workflows, journey));
}

/** The signal the API would send, without it: the event is not stored, so its id is made up. */
async function bareExit(workflows: WorkflowClient, journey: EnteredJourney, eventId: number): Promise<string | null> {
  const handle = workflows.getHandle<typeof journeyWorkflow>(journey.workflowId, journey.runId);
  const event: JourneyEvent = {
    id: eventId,
    messageId: `order-${journey.contactId}`,
    name: 'Order Completed',
    properties: { order_id: `order-${journey.contactId}`, total: 84.5, currency: 'EUR' },
    timestamp: new Date().toISOString(),
  };
  await handle.signal(contactEventSignal, event);
  return checkExit(journey, await closed(workflows, journey));
}

/**
 * Waits until the worker has run the first workflow task of every waiting journey (the last
 * ones entered are the last in its queue): exits are timed against journeys at rest in their
 * delay, not against a start backlog.
 */
export async function waitUntilAtRest(workflows: WorkflowClient, journeys: EnteredJourney[], timeoutMs: number): Promise<void> {
  const sample = journeys.slice(-20);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const described = await Promise.all(sample.map((j) => workflows.getHandle(j.workflowId, j.runId).describe()));
    // Started, task scheduled, started, completed, timer started: the journey sleeps in its delay.
    if (described.every((d) => d.historyLength >= 5 && !d.raw.pendingWorkflowTask)) return;
    if (Date.now() > deadline) throw new Error(`the waiting journeys were not all in their delay after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** `pairs` api exits and `pairs` bare exits, interleaved, `concurrency` in flight; takes journeys from `pool`. */
export async function runExits(api: ApiClient, workflows: WorkflowClient, pool: EnteredJourney[], opts: { pairs: number; concurrency: number; firstEventId: number }): Promise<ExitRun> {
  const count = opts.pairs * 2;
  if (pool.length < count) throw new Error(`${count} exits need ${count} waiting journeys, ${pool.length} left`);
  const journeys = pool.splice(0, count);
  const t0 = performance.now();
  const run = await runBounded(count, opts.concurrency, async (i) => {
    const journey = journeys[i];
    try {
      return i % 2 === 0 ? await apiExit(api, workflows, journey) : await bareExit(workflows, journey, opts.firstEventId + i);
    } catch (err) {
      return `${journey.contactId}: ${(err as Error).message}`;
    }
  });
  const side = (parity: number): ExitSide => ({
    latenciesMs: run.latenciesMs.filter((_, i) => i % 2 === parity),
    failures: run.results.filter((r, i): r is string => i % 2 === parity && r !== null),
  });
  return { concurrency: opts.concurrency, api: side(0), bare: side(1), seconds: (performance.now() - t0) / 1000 };
}
