/**
 * The fault section of `npm run bench`: each figure next to its baseline measured in the same
 * run, and their ratio (the machine is shared: absolute times do not compare across runs).
 * 1. `kill -9` of the worker (its own OS process) during live journeys: duplicates and losses,
 *    against the same journeys without kills.
 * 2. Purchase -> journey closed with many journeys waiting, through the API against a bare
 *    client signal, at 1 and at 16 in flight.
 * Scale: BENCH_FAULT_JOURNEYS (300), BENCH_KILLS (3), BENCH_PROVIDER_DELAY_MS (200),
 * BENCH_WAITING (10000), BENCH_EXITS (200 per path and concurrency); 0 journeys or 0 waiting
 * skips that part.
 */
import { percentile } from './load';
import { enterContacts, pauseOtherFlows, type EnteredJourney } from './enter';
import { runExits, WAITING_FLOW_ID, waitUntilAtRest, waitingFlow, type ExitRun, type ExitSide } from './exits';
import { KILL_FLOW_ID, killFlow, runKills, type KillContext, type KillRun } from './kills';
import { intFromEnv } from './settings';
import { SlowSendGrid } from './slow-sendgrid';
import type { Stack } from './stack';
import { WorkerProcess } from './worker-process';

export interface FaultSettings {
  journeys: number;
  kills: number;
  providerDelayMs: number;
  waiting: number;
  exits: number;
  /** Requests in flight while journeys enter. */
  concurrency: number;
  deadlineMs: number;
}

const EXIT_CONCURRENCIES = [1, 16];
/** Exits per path before the measured ones, not counted: connections, JIT, the worker's caches. */
const WARMUP_EXITS = 10;

export function faultSettingsFromEnv(concurrency: number): FaultSettings {
  const settings: FaultSettings = {
    journeys: intFromEnv('BENCH_FAULT_JOURNEYS', 300, 0),
    kills: intFromEnv('BENCH_KILLS', 3, 0),
    providerDelayMs: intFromEnv('BENCH_PROVIDER_DELAY_MS', 200, 0),
    waiting: intFromEnv('BENCH_WAITING', 10_000, 0),
    exits: intFromEnv('BENCH_EXITS', 200, 1),
    concurrency,
    deadlineMs: intFromEnv('BENCH_FAULT_DEADLINE_S', 900) * 1000,
  };
  // Checked before anything runs: fault 2 comes last, after minutes of fault 1.
  const needed = (EXIT_CONCURRENCIES.length * settings.exits + WARMUP_EXITS) * 2;
  if (settings.waiting > 0 && settings.waiting < needed) {
    throw new Error(
      `BENCH_WAITING=${settings.waiting} is too few for BENCH_EXITS=${settings.exits}: the exits use up ${needed} ` +
        `waiting journeys`,
    );
  }
  return settings;
}

export interface Output {
  print(text?: string): void;
  progress(text: string): void;
}

const ms = (value: number) => `${value.toFixed(0)} ms`;
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map(
    (r) => `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ')}`,
  );
}

function printKills(out: Output, s: FaultSettings, calm: KillRun, killed: KillRun): void {
  out.print();
  out.print(
    `Fault 1: kill -9 of the worker ${s.kills} time${s.kills === 1 ? '' : 's'} during ${s.journeys} live ` +
      `abandoned-cart journeys (2 reminders each, provider answers in ${s.providerDelayMs} ms)`,
  );
  const row = (label: string, read: (r: KillRun) => number, withRatio = false) => [
    label,
    String(read(calm)),
    String(read(killed)),
    withRatio ? ratio(read(killed), read(calm)) : '',
  ];
  const lines = table([
    ['', 'baseline (no kill)', `${s.kills} kill${s.kills === 1 ? '' : 's'}`, 'ratio'],
    row('reminders expected', (r) => r.expected),
    row('reminders received by the provider', (r) => r.received, true),
    row('duplicates (goal 0)', (r) => r.duplicates.reduce((n, d) => n + d.times - 1, 0)),
    row('losses (goal 0)', (r) => r.losses.length),
    row("admitted: recorded 'unknown'", (r) => r.admitted.filter((a) => a.status === 'unknown').length),
    row("admitted: recorded 'skipped'", (r) => r.admitted.filter((a) => a.status === 'skipped').length),
    row('journeys not completed', (r) => r.failedJourneys.length + r.entryFailures.length),
    [
      'checkout -> last journey closed',
      `${calm.seconds.toFixed(1)} s`,
      `${killed.seconds.toFixed(1)} s`,
      ratio(killed.seconds, calm.seconds),
    ],
  ]);
  for (const line of lines) out.print(line);
  killed.kills.forEach((k, i) =>
    out.print(
      `  kill ${i + 1}: at ${k.receivedBefore}/${killed.expected} reminders received, ${k.openCalls} provider ` +
        `call${k.openCalls === 1 ? '' : 's'} open; worker polling again ${k.restartSeconds.toFixed(1)} s later`,
    ),
  );
  for (const [name, run] of [
    ['baseline', calm],
    ['with kills', killed],
  ] as const) {
    const examples = [
      ...run.duplicates.slice(0, 3).map((d) => `duplicate: ${d.key} received ${d.times} times`),
      ...run.losses.slice(0, 3).map((l) => `lost: ${l}`),
      ...run.admitted.slice(0, 3).map((a) => `${a.status}${a.received ? ' (received anyway)' : ''}: ${a.reason}`),
      ...[...run.entryFailures, ...run.failedJourneys].slice(0, 3).map((f) => `journey: ${f}`),
    ];
    if (examples.length > 0) out.print(`  ${name}, e.g.: ${examples.join('; ')}`);
  }
}

function sideRow(concurrency: number, path: string, side: ExitSide): string[] {
  const l = side.latenciesMs;
  return [
    String(concurrency),
    path,
    String(l.length),
    (l.length / side.seconds).toFixed(1),
    ms(percentile(l, 50)),
    ms(percentile(l, 95)),
    ms(percentile(l, 99)),
    String(side.failures.length),
  ];
}

function printExits(
  out: Output,
  s: FaultSettings,
  entered: { count: number; seconds: number; restSeconds: number },
  runs: ExitRun[],
): void {
  out.print();
  out.print(
    `Fault 2: purchase -> journey closed with ${s.waiting} journeys waiting (exit filter Order Completed), api and ` +
      `bare in alternating blocks`,
  );
  out.print(
    `  ${entered.count} journeys entered through the API in ${entered.seconds.toFixed(1)} s ` +
      `(${(entered.count / entered.seconds).toFixed(0)}/s); then the worker (started afresh) had them all in ` +
      `their delay in ${entered.restSeconds.toFixed(1)} s`,
  );
  const rows = [['in flight', 'path', 'exits', 'exits/s', 'p50', 'p95', 'p99', 'failed']];
  for (const run of runs) {
    rows.push(sideRow(run.concurrency, 'api', run.api), sideRow(run.concurrency, 'bare', run.bare));
    const r = (p: number) => ratio(percentile(run.api.latenciesMs, p), percentile(run.bare.latenciesMs, p));
    rows.push([
      String(run.concurrency),
      'api/bare',
      '',
      ratio(run.api.latenciesMs.length / run.api.seconds, run.bare.latenciesMs.length / run.bare.seconds),
      r(50),
      r(95),
      r(99),
      '',
    ]);
  }
  for (const line of table(rows)) out.print(line);
  const verdicts = runs.map((run) => {
    const p99 = percentile(run.api.latenciesMs, 99) / percentile(run.bare.latenciesMs, 99);
    return `${run.concurrency} in flight ${p99 <= 1.5 ? 'met' : 'MISSED'} (${p99.toFixed(2)})`;
  });
  out.print(`  goal p99 api <= 1.5 x bare: ${verdicts.join(', ')}`);
  for (const run of runs) {
    for (const failure of [...run.api.failures, ...run.bare.failures].slice(0, 5))
      out.print(`  failed exit: ${failure}`);
  }
}

/** Runs both fault scenarios; returns how many harness failures (entries, exits) there were. */
export async function faultSection(stack: Stack, s: FaultSettings, out: Output): Promise<number> {
  if (s.journeys === 0 && s.waiting === 0) return 0;
  const provider = await new SlowSendGrid(s.providerDelayMs).start();
  const worker = new WorkerProcess({
    temporalAddress: stack.env.address,
    databaseUrl: stack.database.url,
    sendgridBaseUrl: provider.url,
    linkSecret: 'bench-link-secret-0000',
  });
  const workflows = stack.env.client.workflow;
  let failures = 0;
  try {
    if (s.journeys > 0) {
      await stack.api.expect([200, 201], 'PUT', `/v1/flows/${KILL_FLOW_ID}`, killFlow);
      await pauseOtherFlows(stack.api, KILL_FLOW_ID);
      out.progress('fault 1: starting the worker as its own process (tsx worker/main.ts)');
      await worker.start();
      const ctx: KillContext = {
        api: stack.api,
        workflows,
        db: stack.database.db,
        provider,
        worker,
        concurrency: s.concurrency,
        deadlineMs: s.deadlineMs,
        progress: out.progress,
      };
      out.progress(`fault 1: baseline, ${s.journeys} journeys without kills`);
      const calm = await runKills(ctx, { prefix: 'calm', journeys: s.journeys, kills: 0 });
      out.progress(
        `fault 1: ${s.journeys} journeys, ${s.kills} kills (journeys whose send was cut wait out its 1-minute ` +
          `attempt timeout)`,
      );
      const killed = await runKills(ctx, { prefix: 'killed', journeys: s.journeys, kills: s.kills });
      failures += calm.entryFailures.length + killed.entryFailures.length;
      printKills(out, s, calm, killed);
      if (provider.unreadable.length > 0)
        out.print(
          `  the provider could not read ${provider.unreadable.length} requests, e.g. ${provider.unreadable[0]}`,
        );
    }
    if (s.waiting > 0) {
      await stack.api.expect([200, 201], 'PUT', `/v1/flows/${WAITING_FLOW_ID}`, waitingFlow);
      await pauseOtherFlows(stack.api, WAITING_FLOW_ID);
      // Entering is not what is measured: without a worker competing for the 2 cores it takes
      // a fraction of the time; the worker then takes the journeys to their delay in one go.
      await worker.stop();
      out.progress(
        `fault 2: ${s.waiting} journeys enter through the API, ${s.concurrency} in flight (worker stopped meanwhile)`,
      );
      const entry = await enterContacts(stack.api, workflows, {
        flowId: WAITING_FLOW_ID,
        prefix: 'waiting',
        count: s.waiting,
        concurrency: s.concurrency,
        withEmail: false,
      });
      failures += entry.failures.length;
      for (const failure of entry.failures.slice(0, 5)) out.print(`  entry failed: ${failure}`);
      const restStart = Date.now();
      out.progress('fault 2: starting the worker; waiting until every journey is in its delay');
      await worker.start();
      await waitUntilAtRest(workflows, entry.journeys, s.deadlineMs);
      const restSeconds = (Date.now() - restStart) / 1000;
      // Exits take the oldest journeys first; the most recent stay waiting until the end.
      const pool: EnteredJourney[] = [...entry.journeys];
      let eventId = 2_000_000_000;
      out.progress(`fault 2: ${WARMUP_EXITS} warm-up exits per path`);
      await runExits(stack.api, workflows, pool, {
        exits: WARMUP_EXITS,
        concurrency: 4,
        blockSize: WARMUP_EXITS,
        firstEventId: eventId,
      });
      eventId += WARMUP_EXITS * 2;
      const runs: ExitRun[] = [];
      for (const concurrency of EXIT_CONCURRENCIES) {
        out.progress(
          `fault 2: ${s.exits} api and ${s.exits} bare exits, ${concurrency} in flight, ${pool.length} journeys ` +
            `waiting`,
        );
        runs.push(
          await runExits(stack.api, workflows, pool, {
            exits: s.exits,
            concurrency,
            blockSize: Math.max(25, concurrency * 3),
            firstEventId: eventId,
          }),
        );
        eventId += s.exits * 2;
      }
      failures += runs.reduce((n, r) => n + r.api.failures.length + r.bare.failures.length, 0);
      printExits(out, s, { count: entry.journeys.length, seconds: entry.seconds, restSeconds }, runs);
    }
  } finally {
    out.progress('fault section: stopping the worker and the fake provider');
    await worker.stop();
    await provider.stop();
  }
  return failures;
}
