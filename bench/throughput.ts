/**
 * `npm run bench`: how fast journeys start through the API compared with a bare Temporal
 * client, how many Temporal (Cloud) actions one abandoned-cart journey costs, and how journeys
 * fare under faults (faults.ts: worker kills during sends, exits with many journeys waiting).
 * One run, one set of servers: see stack.ts. BENCH_EVENTS (default 300) starts per side,
 * BENCH_CONCURRENCY (default 16) requests in flight; the batch section's settings in batch.ts,
 * the fault section's in faults.ts.
 */
import os from 'node:os';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { StoredFlow } from '../db/flows';
import { outboxProvider } from '../activities/providers/outbox';
import { installTemporalLogging } from '../runtime/logger';
import { abandonedCart } from '../test/fixtures/flows';
import { createJourneyWorker } from '../worker/create-worker';
import { countActions, formatActionTable } from './actions';
import { batchSection, batchSettingsFromEnv } from './batch';
import {
  describeOutcome,
  journeyWithOrder,
  journeyWithoutOrder,
  SHORT_FLOW_ID,
  shortAbandonedCart,
  withDeadline,
} from './journeys';
import { percentile } from './load';
import { faultSection, faultSettingsFromEnv } from './faults';
import { intFromEnv } from './settings';
import { startStack, type Stack } from './stack';
import { apiStarts, bareStarts, flowDefinition, perSecond, type Measurement } from './starts';

const FLOW_ID = 'abandoned-cart';

const progress = (text: string) => process.stderr.write(`· ${text}\n`);
const print = (text = '') => process.stdout.write(`${text}\n`);

function printMeasurement(m: Measurement, unit: string): void {
  const rate = perSecond(m).toFixed(1);
  const latency =
    `p50 ${percentile(m.latenciesMs, 50).toFixed(0)} ms, p95 ` +
    `${percentile(m.latenciesMs, 95).toFixed(0)} ms, max ${Math.max(...m.latenciesMs).toFixed(0)} ms`;
  print(`${m.label}: ${rate} ${unit}/s (${m.count} ${unit}, ${m.seconds.toFixed(2)} s; ${latency})`);
  if (m.failures.length > 0) {
    print(`  ${m.failures.length} of ${m.count} FAILED, e.g.:`);
    for (const failure of m.failures.slice(0, 5)) print(`    ${failure}`);
  }
}

/** Parts 1-3: starts through the API, then from a bare client, and their ratio. */
async function throughput(stack: Stack, events: number, concurrency: number): Promise<number> {
  const stored = (await stack.api.expect([200, 201], 'PUT', `/v1/flows/${FLOW_ID}`, abandonedCart)) as StoredFlow;
  const flow = flowDefinition(stored);
  const workflows = stack.env.client.workflow;

  // Not measured: opens the HTTP, Postgres and gRPC connections and warms the JIT on both paths.
  const warmup = Math.min(20, events);
  progress(`warm-up: ${warmup} starts per side`);
  const warm = [
    await apiStarts(stack.api, { prefix: 'warm-api', count: warmup, concurrency }),
    await bareStarts(workflows, flow, { prefix: 'warm-bare', count: warmup, concurrency }),
  ];

  progress(`measuring: ${events} track events through the API, then ${events} bare starts, ${concurrency} in flight`);
  const api = await apiStarts(stack.api, { prefix: 'api', count: events, concurrency });
  const bare = await bareStarts(workflows, flow, { prefix: 'bare', count: events, concurrency });

  print();
  printMeasurement(api, 'events');
  printMeasurement(bare, 'starts');
  print(`ratio api/bare: ${(perSecond(api) / perSecond(bare)).toFixed(2)}`);
  return [...warm, api, bare].reduce((n, m) => n + m.failures.length, 0);
}

/** Part 4: actions per journey, with and without the purchase exit. */
async function actionsPerJourney(
  stack: Stack,
  workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>,
): Promise<void> {
  // Only the short copy may start on Checkout Started from here on.
  await stack.api.expect(200, 'PUT', `/v1/flows/${FLOW_ID}`, { ...abandonedCart, status: 'paused' });
  await stack.api.expect([200, 201], 'PUT', `/v1/flows/${SHORT_FLOW_ID}`, shortAbandonedCart);

  const worker = await createJourneyWorker({
    connection: stack.env.nativeConnection,
    namespace: 'default',
    workflowBundle,
    activities: {
      db: stack.database.db,
      email: outboxProvider(),
      sms: outboxProvider(),
      push: outboxProvider(),
      emailFrom: 'shop@example.com',
      links: { publicUrl: 'http://127.0.0.1', secret: 'bench-link-secret-0000' },
    },
  });
  progress('running two short abandoned-cart journeys with the worker (it first drains the journeys started above)');
  const workflows = stack.env.client.workflow;
  const both = Promise.all([
    journeyWithoutOrder(stack.api, workflows, 'cart-no-order'),
    journeyWithOrder(stack.api, workflows, 'cart-order'),
  ]);
  const runs = await worker.runUntil(withDeadline('the two short journeys', 60_000, both));

  print();
  print(
    `Temporal actions per abandoned-cart journey (Temporal Cloud model; delays cut to ${shortAbandonedCart.steps
      .filter((s) => s.type === 'delay')
      .map((s) => s.duration)
      .join(' and ')})`,
  );
  for (const run of runs)
    print(`  ${run.title}: ${describeOutcome(run.result)}; ${run.history.events?.length ?? 0} history events`);
  print(formatActionTable(runs.map((run) => ({ title: run.title, counts: countActions(run.history) }))));
}

async function main(): Promise<void> {
  const events = intFromEnv('BENCH_EVENTS', 300);
  const concurrency = intFromEnv('BENCH_CONCURRENCY', 16);
  installTemporalLogging('silent');

  print('Parcours benchmark');
  print(
    `  node ${process.version}, ${os.cpus().length} CPUs; Temporal dev server (in-memory SQLite), Postgres, API on ` +
      `127.0.0.1, all on this machine`,
  );
  print(`  ${events} starts per side, ${concurrency} in flight`);
  const batches = batchSettingsFromEnv();
  print(
    `  batches: ${batches.events} non-triggering and ${batches.starts} journey-starting events, ` +
      `${batches.batchSize} per batch, ${batches.clients} clients`,
  );
  const faults = faultSettingsFromEnv(concurrency);
  print(
    `  faults: ${faults.journeys} journeys, ${faults.kills} worker kills, provider ${faults.providerDelayMs} ms; ` +
      `${faults.waiting} journeys waiting, ${faults.exits} exits per path`,
  );

  progress('bundling the journey workflow');
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  progress('starting a fresh Postgres database, the Temporal dev server and the API');
  const stack = await startStack();
  const interrupted = () => {
    progress('interrupted: cleaning up');
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  let failures = 0;
  try {
    // No worker while starts are timed: a start only needs the server to accept it, and a
    // worker in this process on 2 cores would compete with both load generators for CPU and
    // spill its backlog from the API run into the bare run. Both sides measure the same thing.
    failures = await throughput(stack, events, concurrency);
    try {
      await actionsPerJourney(stack, workflowBundle);
    } catch (err) {
      // On a loaded machine the worker may not drain the starts above in time: the figures
      // after this part do not depend on it.
      failures += 1;
      print(`\nTemporal actions per abandoned-cart journey: FAILED (${(err as Error).message})`);
    }
    failures += await faultSection(stack, faults, { print, progress });
    failures += await batchSection(stack, batches, { print, progress });
  } finally {
    progress('cleaning up: API, dev server, database');
    process.off('SIGINT', interrupted);
    await stack.stop();
  }
  if (failures > 0) {
    print(`\n${failures} start(s), entries or exits failed: see above`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
