/**
 * Fault 1: `kill -9` of the worker during live abandoned-cart journeys, with a provider that
 * answers in 200 ms. Every journey sends two reminders (nobody orders), so each contact must
 * receive each reminder exactly once. Counted from what the fake provider received:
 * - duplicates: a (contact, step) received more than once;
 * - losses: an expected (contact, step) never received and not recorded as 'unknown' or
 *   'skipped' with a reason (an outcome we admit to is not a loss; one we hide is).
 * The same scenario without kills, in the same run, is the baseline.
 */
import { performance } from 'node:perf_hooks';
import type { WorkflowClient } from '@temporalio/client';
import type { Queryable } from '../db/pool';
import type { FlowInput } from '../flows/schema';
import { abandonedCart } from '../test/fixtures/flows';
import type { journeyWorkflow } from '../workflows/journey';
import { emailOf, enterContacts, type EnteredJourney } from './enter';
import type { ApiClient } from './http';
import { withDeadline } from './journeys';
import type { SlowSendGrid } from './slow-sendgrid';
import type { WorkerProcess } from './worker-process';

export const KILL_FLOW_ID = 'bench-kills';

/**
 * Seconds-long delays, so 300 journeys send their 600 reminders within the run; smart sending off (seconds apart it
 * would skip the second).
 */
export const killFlow: FlowInput = {
  ...abandonedCart,
  name: 'Abandoned cart (benchmark: worker kills)',
  smartSending: { enabled: false },
  steps: abandonedCart.steps.map((step) => {
    if (step.type === 'delay') return { ...step, duration: step.id === 'wait-1h' ? '2 seconds' : '4 seconds' };
    // The step id in the subject: the fake provider tells the two reminders apart by it.
    if (step.type === 'email') return { ...step, subject: `[${step.id}] ${step.subject}` };
    return step;
  }),
};

const REMINDERS = killFlow.steps.filter((s) => s.type === 'email').map((s) => s.id);

export interface KillNote {
  /** Reminders of this run the provider had received when the worker was killed. */
  receivedBefore: number;
  /** Provider calls open at that moment (answers the worker never read). */
  openCalls: number;
  /** Seconds until the restarted worker polled again. */
  restartSeconds: number;
}

export interface KillRun {
  journeys: number;
  expected: number;
  received: number;
  /** (contact, step) received more than once, with how many times. */
  duplicates: { key: string; times: number }[];
  /** Expected (contact, step) neither received nor admitted as unknown/skipped. */
  losses: string[];
  /** Recorded as 'unknown' (a crash between the provider's answer and our record) or 'skipped' with a reason. */
  admitted: { status: string; reason: string; received: boolean }[];
  /** Journeys whose workflow did not complete, with why. */
  failedJourneys: string[];
  /** Checkouts the API did not turn into a journey. */
  entryFailures: string[];
  /** First checkout to the last journey closed. */
  seconds: number;
  kills: KillNote[];
}

export interface KillContext {
  api: ApiClient;
  workflows: WorkflowClient;
  db: Queryable;
  provider: SlowSendGrid;
  worker: WorkerProcess;
  concurrency: number;
  deadlineMs: number;
  progress: (text: string) => void;
}

const keyOf = (contactId: string, stepId: string) => `${contactId} ${stepId}`;

/** `(contact, step)` of a received reminder of this run, from its address and subject marker. */
function receivedKeys(provider: SlowSendGrid, prefix: string): string[] {
  const keys: string[] = [];
  for (const mail of provider.received) {
    const contactId = mail.to.replace(/@example\.com$/, '');
    const step = /^\[([^\]]+)\]/.exec(mail.subject)?.[1];
    if (contactId.startsWith(`${prefix}-`) && step) keys.push(keyOf(contactId, step));
  }
  return keys;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Kills the worker `kills` times, spread evenly over the expected sends: each kill waits until
 * its share of reminders has arrived and a provider call is open (up to 2 s), so the worker dies
 * in the middle of sending, the window where a crash duplicates or loses a message.
 */
async function killDuring(
  ctx: KillContext,
  prefix: string,
  expected: number,
  kills: number,
  done: () => boolean,
): Promise<KillNote[]> {
  const notes: KillNote[] = [];
  for (let k = 0; k < kills; k++) {
    const threshold = Math.ceil((expected * (2 * k + 1)) / (2 * kills));
    let reachedAt: number | undefined;
    for (;;) {
      if (done()) return notes;
      const received = receivedKeys(ctx.provider, prefix).length;
      if (received >= threshold) {
        reachedAt ??= Date.now();
        if (ctx.provider.inFlight > 0 || Date.now() - reachedAt > 2_000) break;
      }
      await sleep(10);
    }
    const note = { receivedBefore: receivedKeys(ctx.provider, prefix).length, openCalls: ctx.provider.inFlight };
    await ctx.worker.kill();
    ctx.progress(
      `kill -9 of the worker (${k + 1}/${kills}) at ${note.receivedBefore}/${expected} reminders, ` +
        `${note.openCalls} provider calls open; restarting it`,
    );
    await ctx.worker.start();
    notes.push({ ...note, restartSeconds: ctx.worker.startSeconds[ctx.worker.startSeconds.length - 1] });
  }
  return notes;
}

interface MessageRow {
  contact_id: string;
  step_id: string;
  status: string;
  reason: string | null;
}

export async function runKills(
  ctx: KillContext,
  opts: { prefix: string; journeys: number; kills: number },
): Promise<KillRun> {
  const expected = opts.journeys * REMINDERS.length;
  const t0 = performance.now();
  let finished = false;
  let entered: EnteredJourney[] = [];
  const entering = enterContacts(ctx.api, ctx.workflows, {
    flowId: KILL_FLOW_ID,
    prefix: opts.prefix,
    count: opts.journeys,
    concurrency: ctx.concurrency,
    withEmail: true,
  });
  const killing = killDuring(ctx, opts.prefix, expected, opts.kills, () => finished);

  const entry = await entering;
  entered = entry.journeys;
  const failedJourneys: string[] = [];
  const open = new Set(entered.map((j) => j.contactId));
  const closing = Promise.all(
    entered.map(async (journey) => {
      try {
        const result = await ctx.workflows
          .getHandle<typeof journeyWorkflow>(journey.workflowId, journey.runId)
          .result();
        if (result.status !== 'completed') failedJourneys.push(`${journey.contactId}: ${result.status}`);
      } catch (err) {
        failedJourneys.push(`${journey.contactId}: ${(err as Error).message}`);
      }
      open.delete(journey.contactId);
    }),
  );
  // Past the deadline the run is counted as it stands: journeys still open are reported, not waited for.
  await withDeadline(`${opts.journeys} journeys to close`, ctx.deadlineMs, closing).catch(() => undefined);
  finished = true;
  for (const contactId of open) failedJourneys.push(`${contactId}: still open after ${ctx.deadlineMs / 1000} s`);
  const seconds = (performance.now() - t0) / 1000;
  const kills = await killing;

  const counts = new Map<string, number>();
  for (const key of receivedKeys(ctx.provider, opts.prefix)) counts.set(key, (counts.get(key) ?? 0) + 1);
  const rows = await ctx.db.query<MessageRow>(
    `SELECT contact_id, step_id, status, reason FROM messages WHERE flow_id = $1 AND contact_id LIKE $2`,
    [KILL_FLOW_ID, `${opts.prefix}-%`],
  );
  const admittedKeys = new Set<string>();
  const admitted: KillRun['admitted'] = [];
  for (const row of rows.rows) {
    if ((row.status === 'unknown' || row.status === 'skipped') && row.reason) {
      const key = keyOf(row.contact_id, row.step_id);
      admittedKeys.add(key);
      admitted.push({ status: row.status, reason: row.reason, received: counts.has(key) });
    }
  }
  const losses: string[] = [];
  for (let i = 0; i < opts.journeys; i++) {
    const contactId = `${opts.prefix}-${i}`;
    for (const step of REMINDERS) {
      const key = keyOf(contactId, step);
      if (!counts.has(key) && !admittedKeys.has(key)) losses.push(`${emailOf(contactId)} ${step}`);
    }
  }
  return {
    journeys: opts.journeys,
    expected,
    received: [...counts.values()].reduce((a, b) => a + b, 0),
    duplicates: [...counts].filter(([, times]) => times > 1).map(([key, times]) => ({ key, times })),
    losses,
    admitted,
    failedJourneys,
    entryFailures: entry.failures,
    seconds,
    kills,
  };
}
