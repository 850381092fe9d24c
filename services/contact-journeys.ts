/**
 * A contact's journeys as `GET /v1/contacts/:id/journeys` shows them: the stored rows, and for each
 * running journey where it stands now (step, next wake-up, awaited event), asked of the journey
 * workflow itself through its state query. Postgres only learns a journey's step when it ends, so
 * the live answer is the only precise one; when Temporal does not answer in time (worker down,
 * server slow) the route still answers at once with the step last seen, marked `live: false`.
 */
import type { WorkflowClient } from '@temporalio/client';
import { getFlowVersion } from '../db/flows';
import { listContactJourneys, rememberCurrentStep, type JourneyRecord } from '../db/journeys';
import type { Queryable } from '../db/pool';
import { journeyStateQuery, type JourneyState } from '../flows/journey-messages';
import type { FlowDefinition } from '../flows/schema';

/** A query normally answers in milliseconds; past this the worker is down or swamped. */
export const LIVE_QUERY_TIMEOUT_MS = 1500;
/** A contact rarely runs more journeys at once; the rest show their stored step (`live: false`). */
export const MAX_LIVE_QUERIES = 20;

export interface ContactJourney extends Omit<JourneyRecord, 'listens'> {
  /**
   * Running journeys: the step it is at (live, or last seen when `live` is false). Ended journeys: the
   * step they ended at, as this route always answered (support reads where a journey exited).
   */
  currentStep: string | null;
  /** When a delay, a wait or a held send ends unless something happens first; null when nothing is timed. */
  nextWakeAt: string | null;
  /** A wait_for_event step: the event it waits for. */
  waitingFor: string | null;
  /** Running journeys: whether the step and wake-up come from the workflow now (true) or the stored row. */
  live: boolean | null;
}

export interface ContactJourneyOptions {
  timeoutMs?: number;
  maxLive?: number;
}

export async function contactJourneys(
  q: Queryable,
  workflows: WorkflowClient,
  contactId: string,
  options: ContactJourneyOptions = {},
): Promise<ContactJourney[]> {
  const timeoutMs = options.timeoutMs ?? LIVE_QUERY_TIMEOUT_MS;
  const maxLive = options.maxLive ?? MAX_LIVE_QUERIES;
  const rows = await listContactJourneys(q, contactId);
  const running = rows.filter((r) => r.status === 'running').slice(0, maxLive);
  // All asked at once: the route waits for the slowest, at most timeoutMs.
  const states = new Map(
    await Promise.all(
      running.map(async (r) => [r.workflowId, await askState(workflows, r.workflowId, timeoutMs)] as const),
    ),
  );
  const flows = new Map<string, Promise<FlowDefinition | undefined>>();
  const flowOf = (r: JourneyRecord | Omit<JourneyRecord, 'listens'>) => {
    const key = `${r.flowId}@${r.flowVersion}`;
    if (!flows.has(key)) flows.set(key, getFlowVersion(q, r.flowId, r.flowVersion));
    return flows.get(key)!;
  };

  return Promise.all(
    rows.map(async (r): Promise<ContactJourney> => {
      if (r.status !== 'running') return { ...r, nextWakeAt: null, waitingFor: null, live: null };
      const state = states.get(r.workflowId);
      const currentStep = state ? (state.status === 'running' ? (state.currentStep ?? null) : null) : r.currentStep;
      if (state && currentStep !== r.currentStep) await rememberCurrentStep(q, r.workflowId, currentStep);
      const step = currentStep ? (await flowOf(r))?.steps.find((s) => s.id === currentStep) : undefined;
      return {
        ...r,
        currentStep,
        nextWakeAt: state?.status === 'running' ? (state.waitingUntil ?? null) : null,
        waitingFor: step?.type === 'wait_for_event' ? step.event : null,
        live: state !== undefined,
      };
    }),
  );
}

/** The journey's state, or undefined when Temporal does not answer within timeoutMs (or fails). */
async function askState(workflows: WorkflowClient, workflowId: string, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const handle = workflows.getHandle(workflowId);
  const asked = workflows.connection
    .withDeadline(Date.now() + timeoutMs, () => handle.query(journeyStateQuery))
    // Any failure (no worker, workflow gone, undecodable payload) means "not live": the row answers instead.
    .catch((): undefined => undefined);
  try {
    return await Promise.race<JourneyState | undefined>([asked, late]);
  } finally {
    clearTimeout(timer);
  }
}
