/**
 * Accepting events: store first (contact and event in one transaction), then route through
 * the one router. A stored event is never lost: when routing does not finish within the
 * request's short deadline (Temporal unreachable) the answer still says accepted, with routing
 * "deferred", and the router loop routes it later.
 */
import { randomUUID } from 'node:crypto';
import { getContact, upsertContact } from '../../db/contacts';
import { insertEvent, type NewEvent } from '../../db/events';
import { inTransaction } from '../../db/pool';
import type { RoutingResult } from '../../routing/route-event';
import { INLINE_ROUTING_DEADLINE_MS, routeStored, type RouterDeps } from '../../routing/router';
import type { IdentifyPayload, TrackPayload } from './schemas';

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

export const contactIdOf = (p: { userId?: string; anonymousId?: string }): string => p.userId ?? `anonymous:${p.anonymousId}`;

export async function ingestTrack(deps: IngestDeps, payload: TrackPayload): Promise<IngestResult> {
  const { event, properties, context, ...rest } = payload;
  return ingest(deps, payload, context?.traits ?? {}, {
    type: 'track',
    name: event,
    properties,
    context: { ...context, ...without(rest, ['userId', 'anonymousId', 'messageId', 'timestamp', 'type']) },
  });
}

export async function ingestIdentify(deps: IngestDeps, payload: IdentifyPayload): Promise<IngestResult> {
  const { traits, context, ...rest } = payload;
  return ingest(deps, payload, { ...context?.traits, ...traits }, {
    type: 'identify',
    properties: traits,
    context: { ...context, ...without(rest, ['userId', 'anonymousId', 'messageId', 'timestamp', 'type']) },
  });
}

async function ingest(
  deps: IngestDeps,
  payload: { userId?: string; anonymousId?: string; messageId?: string; timestamp?: string },
  traits: Record<string, unknown>,
  fields: Pick<NewEvent, 'type' | 'name' | 'properties' | 'context'>,
): Promise<IngestResult> {
  const contactId = contactIdOf(payload);
  // Segment's libraries always send a messageId; without one a retry cannot be recognised.
  const messageId = payload.messageId ?? `parcours-${randomUUID()}`;
  const occurredAt = new Date(payload.timestamp ?? Date.now()).toISOString();
  const { event, duplicate } = await inTransaction(deps.db, async (tx) => {
    const before = await getContact(tx, contactId, { forUpdate: true });
    const after = await upsertContact(tx, contactId, traits);
    // An identify keeps the profile before and after it, so profile-change triggers can be
    // routed (or routed again after an outage) against exactly this change.
    const context = fields.type === 'identify' ? { ...fields.context, profileChange: { before: before ?? null, after } } : fields.context;
    return insertEvent(tx, { ...fields, context, messageId, contactId, occurredAt }, { routeWithinMs: INLINE_ROUTING_LEASE_MS });
  });
  const base = { messageId, eventId: event.id, contactId, duplicate };
  if (duplicate && event.routedAt) return { ...base, routing: 'done', journeys: event.routingResult as RoutingResult };
  return { ...base, ...(await routeStored(deps, event, { inline: true })) };
}

function without(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(source).filter(([k]) => !keys.includes(k)));
}
