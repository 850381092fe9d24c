/**
 * Routing's failure budget and its dead letters. An event whose routing fails for a reason
 * that is not an outage is routed again with a backoff, at most ROUTING_FAILURE_BUDGET times;
 * then the parts that failed (entering a flow, telling a journey) are dead-lettered and the
 * event is marked routed, so the contact's later events go on and only the failed flow misses
 * it. A part Temporal refuses for good is dead-lettered at once. A letter is retried through
 * the API (POST /v1/routing/dead-letters/:id/retry) once its cause is fixed.
 */
import {
  addDeadLetters,
  getDeadLetter,
  recordDeadLetterRetry,
  type DeadLetter,
  type NewDeadLetter,
} from '../db/dead-letters';
import { getEvent, type StoredEvent } from '../db/events';
import { decideEntry, releaseEntries, reopenFailedEntry } from '../db/journey-entries';
import { dropStartingJourney } from '../db/journeys';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { deadLettersAdded } from '../metrics/registry';
import { routeByType, UnfinishedRouting, type RoutingDeps, type RoutingResult } from './route-event';
import { keepSegmentsLive } from './segment-upkeep';
import { isTemporalUnavailable } from './temporal-errors';

/** Failed routing attempts (outages not counted) before an event's failed parts are dead-lettered. */
export const ROUTING_FAILURE_BUDGET = 8;

type LetterDeps = RoutingDeps & { db: Db; log: Logger };

/** The parts Temporal refused for good in a routing that otherwise went through. */
export async function letterRefusals(
  deps: LetterDeps,
  event: StoredEvent,
  result: RoutingResult,
  attempts: number,
): Promise<void> {
  const refused = result.failed.filter((f) => f.refused);
  if (refused.length === 0) return;
  await letter(
    deps,
    refused.map((f) => ({
      eventId: event.id,
      contactId: event.contactId,
      kind: f.kind,
      flowId: f.flowId,
      workflowId: f.workflowId,
      error: f.error,
      attempts,
    })),
  );
}

/**
 * The event's budget is spent: its unfinished parts (or the event as a whole, when it failed
 * before its parts) are dead-lettered; returns what the event is marked routed with.
 */
export async function letterExhausted(
  deps: LetterDeps,
  event: StoredEvent,
  err: unknown,
  attempts: number,
): Promise<RoutingResult | undefined> {
  const base = { eventId: event.id, contactId: event.contactId, attempts };
  if (!(err instanceof UnfinishedRouting)) {
    const error = (err as Error).message;
    await letter(deps, [{ ...base, kind: 'event', flowId: null, workflowId: null, error }]);
    return undefined;
  }
  for (const part of err.parts) {
    if (part.kind !== 'start') continue;
    // Decided, so routing the event again skips it, and no `starting` row is left for the
    // contact's later events to wait on.
    await dropStartingJourney(deps.db, part.flowId, event.id);
    await decideEntry(deps.db, part.flowId, event.id, 'failed', { reason: part.error });
  }
  await letter(
    deps,
    err.parts.map((p) => ({ ...base, kind: p.kind, flowId: p.flowId, workflowId: p.workflowId, error: p.error })),
  );
  return {
    ...err.result,
    failed: [...err.result.failed, ...err.parts.map((p) => ({ ...p, refused: true }))],
  };
}

async function letter(deps: LetterDeps, letters: NewDeadLetter[]): Promise<void> {
  const added = await addDeadLetters(deps.db, letters);
  // Counted as the log lines below are (what log-based alerting counted before metrics).
  if (added > 0) for (const l of letters) deadLettersAdded.inc({ kind: l.kind });
  // One line per letter: what log-based alerting counts (routing_dead_letter).
  if (added > 0)
    for (const l of letters)
      deps.log.warn(
        {
          metric: 'routing_dead_letter',
          eventId: l.eventId,
          contactId: l.contactId,
          kind: l.kind,
          flowId: l.flowId,
          workflowId: l.workflowId,
          attempts: l.attempts,
          err: l.error,
        },
        'routing dead-lettered: this flow misses the event; the contact’s other events go on',
      );
}

export type RetryOutcome =
  | { status: 'not_found' }
  | { status: 'unavailable'; error: string }
  | { status: 'retried'; deadLetter: DeadLetter; resolved: boolean; error?: string; routing?: RoutingResult };

/** How long a retry waits on Temporal: an operator waits for the answer. */
const RETRY_DEADLINE_MS = 10_000;

/**
 * Routes the letter's part of its event again (the event as a whole for an `event` letter).
 * Resolved when it went through; otherwise the letter stays open with the new error. A
 * Temporal outage changes nothing and says so.
 */
export async function retryDeadLetter(deps: LetterDeps, id: number): Promise<RetryOutcome> {
  const found = await getDeadLetter(deps.db, id);
  const event = found && (await getEvent(deps.db, found.eventId));
  if (!found || !event) return { status: 'not_found' };
  if (found.resolvedAt) return { status: 'retried', deadLetter: found, resolved: true };
  if (found.kind === 'start' && found.flowId) await reopenFailedEntry(deps.db, found.flowId, event.id);
  const only =
    found.kind === 'event' || !found.flowId || !found.workflowId
      ? undefined
      : { kind: found.kind, flowId: found.flowId, workflowId: found.workflowId };
  let routing: RoutingResult;
  try {
    routing = await deps.workflows.withDeadline(Date.now() + RETRY_DEADLINE_MS, async () => {
      const routed = await routeByType({ ...deps, only }, event);
      if (!only) await keepSegmentsLive(deps, event);
      return routed;
    });
  } catch (err) {
    await releaseEntries(deps.db, event.id);
    if (isTemporalUnavailable(err)) return { status: 'unavailable', error: (err as Error).message };
    const error = (err as Error).message;
    await recordDeadLetterRetry(deps.db, id, { resolved: false, error });
    return { status: 'retried', deadLetter: (await getDeadLetter(deps.db, id)) ?? found, resolved: false, error };
  }
  const refused = routing.failed.filter((f) => f.refused);
  const error = refused.length ? refused.map((f) => `${f.workflowId}: ${f.error}`).join('; ') : undefined;
  await recordDeadLetterRetry(deps.db, id, error ? { resolved: false, error } : { resolved: true });
  deps.log.info({ deadLetterId: id, eventId: event.id, resolved: !error }, 'routing dead letter retried');
  return {
    status: 'retried',
    deadLetter: (await getDeadLetter(deps.db, id)) ?? found,
    resolved: !error,
    ...(error ? { error } : {}),
    routing,
  };
}
