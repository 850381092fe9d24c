/**
 * Fault 2: purchase -> journey closed, with many journeys waiting. Every waiting journey is an
 * abandoned cart in its one-hour delay with the exit filter `Order Completed`. One exit is timed
 * from the moment the order is sent until the journey's workflow is closed (the long-poll of
 * its result answers), two ways:
 * - api: `POST /v1/track` of `Order Completed`; the API stores it, finds the running journey
 *   and signals it;
 * - bare: the same signal from a bare Temporal client (no HTTP, no Postgres).
 * Each path runs alone at its concurrency (16 in flight means 16 orders through the API, or 16
 * bare signals), in alternating blocks (api then bare, then bare then api, ...), so a slow spell
 * of the shared machine falls on both paths rather than on one.
 */
import type { WorkflowClient } from '@temporalio/client';
import type { FlowInput } from '../flows/schema';
import { abandonedCart } from '../test/fixtures/flows';
import type { journeyWorkflow } from '../workflows/journey';
import { contactEventSignal, type JourneyEvent, type JourneyResult } from '../flows/journey-messages';
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
  /** Time spent running this path's blocks (for exits per second). */
  seconds: number;
}

export interface ExitRun {
  concurrency: number;
  api: ExitSide;
  bare: ExitSide;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The journey left by the order's flow filter (anything else is a failed exit). */
function checkExit(journey: EnteredJourney, result: JourneyResult): string | null {
  if (result.exit?.reason === 'flow_filter') return null;
  return (
    `${journey.contactId}: closed ${result.status} without the order's exit ` +
    `(${JSON.stringify(result.exit ?? null)})`
  );
}

/** How long one exit may take before it counts as failed (a journey that never closes must not hang the run). */
const EXIT_DEADLINE_MS = 120_000;

async function closed(workflows: WorkflowClient, journey: EnteredJourney): Promise<JourneyResult> {
  return withDeadline(
    `${journey.contactId}'s journey to close`,
    EXIT_DEADLINE_MS,
    workflows.getHandle<typeof journeyWorkflow>(journey.workflowId, journey.runId).result(),
  );
}

/**
 * Only the 200 is required of the answer: whether it lists the signalled journey depends on
 * whether routing finishes before the API answers; the journey closing is what counts.
 */
async function apiExit(api: ApiClient, workflows: WorkflowClient, journey: EnteredJourney): Promise<string | null> {
  const res = await api.request('POST', '/v1/track', {
    userId: journey.contactId,
    event: 'Order Completed',
    properties: { order_id: `order-${journey.contactId}`, total: 84.5, currency: 'EUR' },
    messageId: `order-${journey.contactId}`,
  });
  if (res.status !== 200) return `${journey.contactId}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`;
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
export async function waitUntilAtRest(
  workflows: WorkflowClient,
  journeys: EnteredJourney[],
  timeoutMs: number,
): Promise<void> {
  const sample = journeys.slice(-20);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const described = await Promise.all(sample.map((j) => workflows.getHandle(j.workflowId, j.runId).describe()));
    // Started, task scheduled, started, completed, timer started: the journey sleeps in its delay.
    if (described.every((d) => d.historyLength >= 5 && !d.raw.pendingWorkflowTask)) return;
    if (Date.now() > deadline)
      throw new Error(`the waiting journeys were not all in their delay after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

type Path = 'api' | 'bare';

/** One block: `count` exits on one path, `concurrency` in flight. */
async function block(
  api: ApiClient,
  workflows: WorkflowClient,
  path: Path,
  journeys: EnteredJourney[],
  concurrency: number,
  firstEventId: number,
  into: ExitSide,
): Promise<void> {
  const run = await runBounded(journeys.length, concurrency, async (i) => {
    const journey = journeys[i];
    try {
      return path === 'api'
        ? await apiExit(api, workflows, journey)
        : await bareExit(workflows, journey, firstEventId + i);
    } catch (err) {
      return `${journey.contactId}: ${(err as Error).message}`;
    }
  });
  into.latenciesMs.push(...run.latenciesMs);
  into.failures.push(...run.results.filter((r): r is string => r !== null));
  into.seconds += run.seconds;
}

/**
 * `exits` api exits and `exits` bare exits, `concurrency` in flight, in alternating blocks of
 * `blockSize`; takes its journeys from the front of `pool`.
 */
export async function runExits(
  api: ApiClient,
  workflows: WorkflowClient,
  pool: EnteredJourney[],
  opts: { exits: number; concurrency: number; blockSize: number; firstEventId: number },
): Promise<ExitRun> {
  if (pool.length < opts.exits * 2)
    throw new Error(`${opts.exits * 2} exits need as many waiting journeys, ${pool.length} left`);
  const result: ExitRun = {
    concurrency: opts.concurrency,
    api: { latenciesMs: [], failures: [], seconds: 0 },
    bare: { latenciesMs: [], failures: [], seconds: 0 },
  };
  let eventId = opts.firstEventId;
  for (let done = 0, round = 0; done < opts.exits; round++) {
    const size = Math.min(opts.blockSize, opts.exits - done);
    const order: Path[] = round % 2 === 0 ? ['api', 'bare'] : ['bare', 'api'];
    for (const path of order) {
      await block(api, workflows, path, pool.splice(0, size), opts.concurrency, eventId, result[path]);
      eventId += size;
    }
    done += size;
  }
  return result;
}
