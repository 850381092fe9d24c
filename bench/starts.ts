/**
 * Journey-start throughput, two ways against the same Temporal server:
 * - through the API: POST /v1/track over HTTP, which stores the contact and the event in
 *   Postgres, finds the live flows it triggers, starts the journey and records it;
 * - from a bare Temporal client: the same workflow start (same input, options and search
 *   attributes as api/events/routing.ts), without HTTP or Postgres.
 */
import type { WorkflowClient } from '@temporalio/client';
import type { FlowDefinition } from '../flows/schema';
import type { StoredFlow } from '../db/flows';
import { cartProperties } from '../test/fixtures/flows';
import { journeyStartOptions } from '../routing/route-event';
import type { journeyWorkflow } from '../workflows/journey';
import type { ApiClient } from './http';
import { runBounded } from './load';

export interface Measurement {
  label: string;
  count: number;
  seconds: number;
  latenciesMs: number[];
  /** One line per failed start. */
  failures: string[];
}

export const perSecond = (m: Measurement): number => m.count / m.seconds;

interface TrackAnswer {
  routing?: string;
  journeys?: { started?: unknown[] };
}

function isTrackAnswer(body: unknown): body is TrackAnswer {
  return typeof body === 'object' && body !== null;
}

/** null when the track started exactly one journey, else why not. */
async function trackCheckout(api: ApiClient, userId: string): Promise<string | null> {
  try {
    const res = await api.request('POST', '/v1/track', {
      userId,
      event: 'Checkout Started',
      properties: cartProperties,
      messageId: `checkout-${userId}`,
    });
    const started = isTrackAnswer(res.body) ? res.body.journeys?.started : undefined;
    if (res.status === 200 && started?.length === 1) return null;
    return (
      `${userId}: HTTP ${res.status}, journeys.started ${started?.length ?? 'missing'}: ` +
      `${JSON.stringify(res.body).slice(0, 300)}`
    );
  } catch (err) {
    return `${userId}: ${(err as Error).message}`;
  }
}

export async function apiStarts(
  api: ApiClient,
  opts: { prefix: string; count: number; concurrency: number },
): Promise<Measurement> {
  const run = await runBounded(opts.count, opts.concurrency, (i) => trackCheckout(api, `${opts.prefix}-${i}`));
  return {
    label: 'api track->journey start',
    count: opts.count,
    seconds: run.seconds,
    latenciesMs: run.latenciesMs,
    failures: run.results.filter((f) => f !== null),
  };
}

/** The flow as a journey carries it (what liveFlowsTriggeredBy returns): the stored definition. */
export function flowDefinition(stored: StoredFlow): FlowDefinition {
  const { createdAt: _createdAt, updatedAt: _updatedAt, liveSince: _liveSince, ...definition } = stored;
  return definition;
}

/** The same start the API makes (journeyStartOptions), without HTTP or Postgres. */
async function startBare(
  workflows: WorkflowClient,
  flow: FlowDefinition,
  contactId: string,
  eventId: number,
): Promise<string | null> {
  const trigger = {
    id: eventId,
    messageId: `checkout-${contactId}`,
    name: 'Checkout Started',
    properties: cartProperties,
    timestamp: new Date().toISOString(),
  };
  try {
    await workflows.start<typeof journeyWorkflow>('journeyWorkflow', journeyStartOptions(flow, contactId, trigger));
    return null;
  } catch (err) {
    return `${contactId}: ${(err as Error).message}`;
  }
}

export async function bareStarts(
  workflows: WorkflowClient,
  flow: FlowDefinition,
  opts: { prefix: string; count: number; concurrency: number },
): Promise<Measurement> {
  const run = await runBounded(opts.count, opts.concurrency, (i) =>
    startBare(workflows, flow, `${opts.prefix}-${i}`, 1_000_000 + i),
  );
  return {
    label: 'bare client journey start',
    count: opts.count,
    seconds: run.seconds,
    latenciesMs: run.latenciesMs,
    failures: run.results.filter((f) => f !== null),
  };
}
