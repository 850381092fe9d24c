/**
 * Two abandoned-cart journeys run to their end on the real dev server (real timers, so the
 * delays are shortened to seconds), with the journey worker and the outbox provider:
 * - "no order": both reminders are sent and the journey completes;
 * - "order after 1st email": an `Order Completed` track is posted as soon as the first
 *   reminder is in the outbox; the API signals the journey, which exits during its second wait.
 */
import type { WorkflowClient } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { FlowInput } from '../flows/schema';
import { abandonedCart, cartProperties } from '../test/fixtures/flows';
import { journeyWorkflowId } from '../runtime/journey-identity';
import type { journeyWorkflow } from '../workflows/journey';
import type { JourneyResult } from '../flows/journey-messages';
import type { ApiClient } from './http';

export const SHORT_FLOW_ID = 'abandoned-cart-short';

const SHORT_DELAYS: Record<string, string> = { 'wait-1h': '1 second', 'wait-24h': '2 seconds' };

/** The abandoned-cart fixture with its delays cut to seconds. */
export const shortAbandonedCart: FlowInput = {
  ...abandonedCart,
  name: 'Abandoned cart (short delays)',
  // Seconds apart, the second reminder would fall to smart sending; with the real 24 h it would not.
  smartSending: { enabled: false },
  steps: abandonedCart.steps.map((step) =>
    step.type === 'delay' ? { ...step, duration: SHORT_DELAYS[step.id] ?? step.duration } : step,
  ),
};

export interface JourneyRun {
  title: string;
  result: JourneyResult;
  history: temporal.api.history.v1.IHistory;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The promise, or an error once `ms` have passed (so a stuck journey cannot hang the run). */
export async function withDeadline<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface OutboxAnswer {
  messages: { contactId: string; stepId: string; status: string }[];
}

async function reminderInOutbox(api: ApiClient, contactId: string, stepId: string): Promise<boolean> {
  const body = (await api.expect(200, 'GET', '/v1/outbox?limit=500')) as OutboxAnswer;
  return body.messages.some((m) => m.contactId === contactId && m.stepId === stepId && m.status === 'sent');
}

interface TrackAnswer {
  routing?: string;
  journeys?: { started?: unknown[]; signalled?: unknown[] };
}

async function checkout(api: ApiClient, workflows: WorkflowClient, userId: string): Promise<void> {
  await api.expect(200, 'POST', '/v1/identify', {
    userId,
    traits: { email: `${userId}@example.com`, firstName: 'Bench' },
  });
  const body = (await api.expect(200, 'POST', '/v1/track', {
    userId,
    event: 'Checkout Started',
    properties: cartProperties,
  })) as TrackAnswer;
  // On a loaded machine the request's short routing deadline may pass: the router loop starts it.
  if (body.routing === 'deferred')
    return until(`the journey of ${userId} (routing deferred)`, 60_000, () => journeyExists(workflows, userId));
  if (body.journeys?.started?.length !== 1)
    throw new Error(`checkout for ${userId} started no journey: ${JSON.stringify(body)}`);
}

async function journeyExists(workflows: WorkflowClient, contactId: string): Promise<boolean> {
  try {
    await workflows.getHandle(journeyWorkflowId(SHORT_FLOW_ID, contactId)).describe();
    return true;
  } catch {
    return false;
  }
}

async function finish(workflows: WorkflowClient, title: string, contactId: string): Promise<JourneyRun> {
  const handle = workflows.getHandle<typeof journeyWorkflow>(journeyWorkflowId(SHORT_FLOW_ID, contactId));
  const result = await handle.result();
  return { title, result, history: await handle.fetchHistory() };
}

export async function journeyWithoutOrder(
  api: ApiClient,
  workflows: WorkflowClient,
  contactId: string,
): Promise<JourneyRun> {
  await checkout(api, workflows, contactId);
  return finish(workflows, 'no order', contactId);
}

export async function journeyWithOrder(
  api: ApiClient,
  workflows: WorkflowClient,
  contactId: string,
): Promise<JourneyRun> {
  await checkout(api, workflows, contactId);
  await until('the first reminder in the outbox', 60_000, () => reminderInOutbox(api, contactId, 'reminder-1'));
  const body = (await api.expect(200, 'POST', '/v1/track', {
    userId: contactId,
    event: 'Order Completed',
    properties: { order_id: `o-${contactId}` },
  })) as TrackAnswer;
  // Deferred: the router loop signals it; the journey's outcome below says whether it heard it.
  if (body.routing !== 'deferred' && body.journeys?.signalled?.length !== 1)
    throw new Error(`the order of ${contactId} signalled no journey: ${JSON.stringify(body)}`);
  return finish(workflows, 'order after 1st email', contactId);
}

/** "completed", or "exited (flow_filter, by signal, during wait-24h)". */
export function describeOutcome(result: JourneyResult): string {
  if (!result.exit) return result.status;
  const lastStep = result.steps[result.steps.length - 1]?.stepId ?? 'start';
  const exit = result.exit;
  const how =
    exit.reason === 'flow_filter' || exit.reason === 'goal'
      ? `${exit.reason}, detected by ${exit.detectedBy}`
      : exit.reason === 'exit_step'
        ? `exit step ${exit.stepId}`
        : exit.reason;
  return `${result.status} (${how}, at ${lastStep})`;
}
