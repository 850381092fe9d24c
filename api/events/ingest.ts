/**
 * Accepting Segment calls: store first (contacts, merges and events in one transaction), then
 * route through the one router. A single call routes its own event inline, with a short
 * deadline, and its answer shows the journeys; a batch is answered once it is durable and its
 * events are routed in the background (concurrently across contacts, in order per contact).
 * A stored event is never lost: what routing does not finish, the router loop routes later.
 */
import type { RoutingResult } from '../../routing/route-event';
import { BACKGROUND_ROUTING_LEASE_MS, routeInBackground } from '../../routing/route-many';
import { INLINE_ROUTING_DEADLINE_MS, routeStored, type RouterDeps } from '../../routing/router';
import { HttpError } from '../errors';
import { prepareCall, type CallEnvelope } from './prepare';
import type { CallType } from './paths';
import type { IdentifyPayload, TrackPayload } from './schemas';
import { storeCalls, type PreparedCall } from '../../services/event-store';

export type IngestDeps = RouterDeps;

export interface IngestResult {
  messageId: string;
  eventId: number;
  contactId: string;
  /** True when this messageId was accepted before: nothing new was stored. */
  duplicate: boolean;
  routing: 'done' | 'deferred';
  journeys?: RoutingResult;
}

/** The router loop leaves a request's event alone this long: the request routes it itself. */
const INLINE_ROUTING_LEASE_MS = INLINE_ROUTING_DEADLINE_MS + 9_000;

/** A call at /v1/<type> (or its short path): a bad one is a 400 naming the field. */
export async function ingestCall(
  deps: IngestDeps,
  body: unknown,
  type: CallType,
  envelope: CallEnvelope,
): Promise<IngestResult> {
  const prepared = prepareCall(body, envelope, type);
  if ('rejected' in prepared)
    throw new HttpError(400, prepared.rejected.code, prepared.rejected.message, prepared.rejected.issues);
  return ingestPrepared(deps, prepared.call);
}

/** Calls our own connectors (shops, sources) build: already validated, and free to carry a large raw payload. */
export async function ingestTrack(deps: IngestDeps, payload: TrackPayload): Promise<IngestResult> {
  return ingestBuilt(deps, payload, 'track');
}

export async function ingestIdentify(deps: IngestDeps, payload: IdentifyPayload): Promise<IngestResult> {
  return ingestBuilt(deps, payload, 'identify');
}

async function ingestBuilt(
  deps: IngestDeps,
  payload: TrackPayload | IdentifyPayload,
  type: CallType,
): Promise<IngestResult> {
  const prepared = prepareCall(payload, { receivedAt: Date.now() }, type, { checkSize: false });
  if ('rejected' in prepared)
    throw new Error(`a connector built an invalid ${type}: ${JSON.stringify(prepared.rejected.issues)}`);
  return ingestPrepared(deps, prepared.call);
}

async function ingestPrepared(deps: IngestDeps, call: PreparedCall): Promise<IngestResult> {
  const [outcome] = await storeCalls(deps.db, [call], { routeWithinMs: INLINE_ROUTING_LEASE_MS, log: deps.log });
  if (outcome.status === 'refused') throw new HttpError(400, outcome.code, outcome.message);
  const { event } = outcome;
  const base = {
    messageId: event.messageId,
    eventId: event.id,
    contactId: event.contactId,
    duplicate: outcome.status === 'duplicate',
  };
  if (base.duplicate && event.routedAt)
    return { ...base, routing: 'done', journeys: event.routingResult as RoutingResult };
  return { ...base, ...(await routeStored(deps, event, { inline: true })) };
}

/**
 * A batch's events are routed after the answer; the router loop leaves them alone this long
 * (routing a batch that starts hundreds of journeys takes seconds), and takes over after it
 * if this process died meanwhile.
 */
export const BATCH_ROUTING_LEASE_MS = BACKGROUND_ROUTING_LEASE_MS;

export type ItemOutcome =
  | { index: number; messageId: string; outcome: 'stored' | 'duplicate'; eventId: number; contactId: string }
  | {
      index: number;
      messageId?: string;
      outcome: 'rejected';
      code: string;
      message: string;
      issues: { path: (string | number)[]; message: string }[];
    };

/**
 * Every item prepared, the valid ones stored in one transaction, the answer listing each
 * item's outcome in order; then the stored events are routed in the background.
 */
export async function ingestBatch(deps: IngestDeps, items: unknown[], envelope: CallEnvelope): Promise<ItemOutcome[]> {
  const outcomes: ItemOutcome[] = new Array(items.length);
  const valid: { index: number; call: PreparedCall }[] = [];
  for (const [index, raw] of items.entries()) {
    const prepared = prepareCall(raw, envelope);
    if ('call' in prepared) valid.push({ index, call: prepared.call });
    else outcomes[index] = { index, ...messageIdOf(raw), outcome: 'rejected', ...prepared.rejected };
  }
  const stored = await storeCalls(
    deps.db,
    valid.map((v) => v.call),
    { routeWithinMs: BATCH_ROUTING_LEASE_MS, log: deps.log },
  );
  const toRoute = [];
  for (const [i, { index, call }] of valid.entries()) {
    const outcome = stored[i];
    if (outcome.status === 'refused') {
      outcomes[index] = {
        index,
        messageId: call.messageId,
        outcome: 'rejected',
        code: outcome.code,
        message: outcome.message,
        issues: [],
      };
      continue;
    }
    outcomes[index] = {
      index,
      messageId: call.messageId,
      outcome: outcome.status,
      eventId: outcome.event.id,
      contactId: outcome.event.contactId,
    };
    if (outcome.status === 'stored') toRoute.push(outcome.event);
  }
  routeInBackground(deps, toRoute);
  return outcomes;
}

function messageIdOf(raw: unknown): { messageId?: string } {
  const id = raw !== null && typeof raw === 'object' ? (raw as { messageId?: unknown }).messageId : undefined;
  return typeof id === 'string' || typeof id === 'number' ? { messageId: String(id).slice(0, 255) } : {};
}
