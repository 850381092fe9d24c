/**
 * Putting contacts into a flow the way a shop does: `POST /v1/track` of `Checkout Started`
 * through the API, which starts the journey. The answer names the journey's workflow, which
 * the fault scenarios follow to its end (whatever scheme the workflow ids follow); an answer
 * that does not (routing done after the answer) is followed up by the journey's search
 * attributes.
 */
import type { WorkflowClient } from '@temporalio/client';
import { z } from 'zod';
import { cartProperties } from '../test/fixtures/flows';
import type { ApiClient } from './http';
import { runBounded } from './load';

export interface EnteredJourney {
  contactId: string;
  workflowId: string;
  runId: string;
}

const trackAnswer = z.object({
  routing: z.string(),
  journeys: z
    .object({ started: z.array(z.object({ flowId: z.string(), workflowId: z.string(), runId: z.string() })) })
    .optional(),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The contact's running journey in the flow, found by its search attributes (visibility lags a little). */
async function findRunningJourney(
  workflows: WorkflowClient,
  flowId: string,
  contactId: string,
  timeoutMs = 15_000,
): Promise<EnteredJourney | undefined> {
  const deadline = Date.now() + timeoutMs;
  const query =
    `FlowId = ${JSON.stringify(flowId)} AND ContactId = ${JSON.stringify(contactId)} AND ` +
    `ExecutionStatus = "Running"`;
  while (Date.now() < deadline) {
    for await (const info of workflows.list({ query }))
      return { contactId, workflowId: info.workflowId, runId: info.runId };
    await sleep(250);
  }
  return undefined;
}

/** The journey the checkout started in `flowId`, or why there is none. */
async function checkout(
  api: ApiClient,
  workflows: WorkflowClient,
  flowId: string,
  contactId: string,
  email: string | undefined,
): Promise<EnteredJourney | string> {
  try {
    const res = await api.request('POST', '/v1/track', {
      userId: contactId,
      event: 'Checkout Started',
      properties: cartProperties,
      messageId: `checkout-${contactId}`,
      // Segment's context.traits: the contact gets its address in the same request.
      ...(email ? { context: { traits: { email, firstName: 'Bench' } } } : {}),
    });
    const body = trackAnswer.safeParse(res.body);
    const started = body.success ? body.data.journeys?.started.find((s) => s.flowId === flowId) : undefined;
    if (res.status === 200 && started) return { contactId, workflowId: started.workflowId, runId: started.runId };
    const found = res.status === 200 ? await findRunningJourney(workflows, flowId, contactId) : undefined;
    if (found) return found;
    return (
      `${contactId}: HTTP ${res.status}, no journey started in ${flowId}: ` +
      `${JSON.stringify(res.body).slice(0, 300)}`
    );
  } catch (err) {
    return `${contactId}: ${(err as Error).message}`;
  }
}

export interface Entered {
  journeys: EnteredJourney[];
  failures: string[];
  seconds: number;
}

/** `count` contacts `${prefix}-0`… enter `flowId`, `concurrency` requests in flight. */
export async function enterContacts(
  api: ApiClient,
  workflows: WorkflowClient,
  opts: { flowId: string; prefix: string; count: number; concurrency: number; withEmail: boolean },
): Promise<Entered> {
  const run = await runBounded(opts.count, opts.concurrency, (i) => {
    const contactId = `${opts.prefix}-${i}`;
    return checkout(api, workflows, opts.flowId, contactId, opts.withEmail ? emailOf(contactId) : undefined);
  });
  const journeys: EnteredJourney[] = [];
  const failures: string[] = [];
  for (const r of run.results) {
    if (typeof r === 'string') failures.push(r);
    else journeys.push(r);
  }
  return { journeys, failures, seconds: run.seconds };
}

export const emailOf = (contactId: string): string => `${contactId}@example.com`;

/** Contacts (and the flows they are in) of the previous parts stay out of the way: pause every other live flow. */
export async function pauseOtherFlows(api: ApiClient, keep: string): Promise<void> {
  const listed = z
    .object({ flows: z.array(z.object({ id: z.string(), status: z.string() })) })
    .parse(await api.expect(200, 'GET', '/v1/flows'));
  for (const flow of listed.flows) {
    if (flow.id !== keep && flow.status === 'live')
      await api.expect(200, 'POST', `/v1/flows/${encodeURIComponent(flow.id)}/pause`);
  }
}
