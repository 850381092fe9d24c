/**
 * Accepting Segment calls: store first (contacts, merges and events in one transaction), then
 * route through the one router. A single call routes its own event inline, with a short
 * deadline, and its answer shows the journeys; a batch is answered once it is durable and its
 * events are routed in the background (concurrently across contacts, in order per contact).
 * A stored event is never lost: what routing does not finish, the router loop routes later.
 * A call for an id erased at the person's request (DELETE /v1/contacts/:id) is not stored and
 * starts nothing: it would bring back the person they asked us to forget. It is answered as
 * `erased` with a 2xx, so client libraries do not retry it forever.
 */
import type { ProvenConsent } from '../../connectors/segment';
import { sendConfirmation, type ConfirmationOutcome, type ConfirmationSender } from '../../engagement/double-opt-in';
import { getContact } from '../../db/contacts';
import { erasedAmong, isErasedIdRefusal } from '../../db/contact-erase';
import type { Db } from '../../db/pool';
import type { RoutingResult } from '../../routing/route-event';
import { flowsOfPass, historyOf, liveFlowsNow } from '../../routing/flows-of-pass';
import { BACKGROUND_ROUTING_LEASE_MS, routeInBackground } from '../../routing/route-many';
import { INLINE_ROUTING_DEADLINE_MS, routeStored, type RouterDeps } from '../../routing/router';
import { eventsAccepted, eventsRejected } from '../../metrics/registry';
import { HttpError } from '../errors';
import { prepareCall, type CallEnvelope } from './prepare';
import type { CallType } from './paths';
import type { IdentifyPayload, TrackPayload } from './schemas';
import { storeCalls, type PreparedCall, type StoreOutcome } from '../../services/event-store';

export interface IngestDeps extends RouterDeps {
  /** Sends the double opt-in email of an email subscription asked with a write key; without it, it stays pending. */
  confirmations?: ConfirmationSender;
}

/** What became of the confirmation email of a subscription asked with a write key. */
export type EmailConfirmation = ConfirmationOutcome | { status: 'not_sent'; reason: string };

export interface IngestResult {
  messageId: string;
  eventId: number;
  contactId: string;
  /** True when this messageId was accepted before: nothing new was stored. */
  duplicate: boolean;
  /**
   * Stored as history: sent with `context.historical: true`, or older than the entry window of
   * every live flow it could start (flows/entry-time.ts). It feeds the profile and segments and
   * starts no journey.
   */
  history: boolean;
  routing: 'done' | 'deferred';
  journeys?: RoutingResult;
  /**
   * An email subscription asked with a write key: recorded `pending`, and the confirmation email sent (double
   * opt-in); the contact is subscribed once they follow its link.
   */
  consent?: { email: { status: 'pending'; confirmation: EmailConfirmation } };
}

/** A call for an erased id: nothing stored, no journey. */
export interface ErasedCall {
  messageId: string;
  erased: true;
  stored: false;
}

export type IngestAnswer = IngestResult | ErasedCall;

export const isErased = (answer: IngestAnswer): answer is ErasedCall => 'erased' in answer;

/** The router loop leaves a request's event alone this long: the request routes it itself. */
const INLINE_ROUTING_LEASE_MS = INLINE_ROUTING_DEADLINE_MS + 9_000;

/** A call at /v1/<type> (or its short path): a bad one is a 400 naming the field. */
export async function ingestCall(
  deps: IngestDeps,
  body: unknown,
  type: CallType,
  envelope: CallEnvelope,
): Promise<IngestAnswer> {
  const prepared = prepareCall(body, envelope, type);
  if ('rejected' in prepared)
    throw new HttpError(400, prepared.rejected.code, prepared.rejected.message, prepared.rejected.issues);
  return ingestPrepared(deps, prepared.call);
}

/** Calls our own connectors (shops, sources) build: already validated, and free to carry a large raw payload. */
/** `consent`: decisions the connector read from its platform with their proof, recorded with the call. */
export async function ingestTrack(
  deps: IngestDeps,
  payload: TrackPayload,
  consent?: ProvenConsent[],
): Promise<IngestAnswer> {
  return ingestBuilt(deps, payload, 'track', consent);
}

export async function ingestIdentify(
  deps: IngestDeps,
  payload: IdentifyPayload,
  consent?: ProvenConsent[],
): Promise<IngestAnswer> {
  return ingestBuilt(deps, payload, 'identify', consent);
}

async function ingestBuilt(
  deps: IngestDeps,
  payload: TrackPayload | IdentifyPayload,
  type: CallType,
  consent: ProvenConsent[] | undefined,
): Promise<IngestAnswer> {
  const prepared = prepareCall(payload, { receivedAt: Date.now() }, type, { checkSize: false });
  if ('rejected' in prepared)
    throw new Error(`a connector built an invalid ${type}: ${JSON.stringify(prepared.rejected.issues)}`);
  return ingestPrepared(deps, consent?.length ? { ...prepared.call, consent } : prepared.call);
}

async function ingestPrepared(deps: IngestDeps, call: PreparedCall): Promise<IngestAnswer> {
  const erased = (): ErasedCall => {
    // The id itself is not logged: it is what the person asked us to forget.
    deps.log.info({ messageId: call.messageId }, 'call for an erased id: not stored');
    return { messageId: call.messageId, erased: true, stored: false };
  };
  if ((await erasedCalls(deps.db, [call]))[0]) return erased();
  let outcome: StoreOutcome;
  try {
    [outcome] = await storeCalls(deps.db, [call], { routeWithinMs: INLINE_ROUTING_LEASE_MS, log: deps.log });
  } catch (err) {
    // Erased between our look and the store: the database refused to create the contact again.
    if (isErasedIdRefusal(err)) return erased();
    throw err;
  }
  if (outcome.status === 'refused') throw new HttpError(400, outcome.code, outcome.message);
  const { event } = outcome;
  eventsAccepted.inc({ type: call.callType });
  const base = {
    messageId: event.messageId,
    eventId: event.id,
    contactId: event.contactId,
    duplicate: outcome.status === 'duplicate',
    history: await historyOf(liveFlowsNow(deps.db), event),
    ...(outcome.status === 'stored' && outcome.confirmEmail
      ? {
          consent: {
            email: {
              status: 'pending' as const,
              confirmation: await confirmEmail(deps, event.contactId, outcome.confirmEmail.consentEventId),
            },
          },
        }
      : {}),
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
  | {
      index: number;
      messageId: string;
      outcome: 'stored' | 'duplicate';
      eventId: number;
      contactId: string;
      /** Stored as history (see IngestResult.history). */
      history: boolean;
    }
  | { index: number; messageId: string; outcome: 'erased' }
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
  const erased = await erasedCalls(
    deps.db,
    valid.map((v) => v.call),
  );
  for (const [i, { index, call }] of valid.entries())
    if (erased[i]) outcomes[index] = { index, messageId: call.messageId, outcome: 'erased' };
  if (erased.some(Boolean)) {
    deps.log.info({ erased: erased.filter(Boolean).length }, 'batch calls for erased ids: not stored');
    valid.splice(0, valid.length, ...valid.filter((_, i) => !erased[i]));
  }
  const stored = await storeCalls(
    deps.db,
    valid.map((v) => v.call),
    { routeWithinMs: BATCH_ROUTING_LEASE_MS, log: deps.log },
  );
  const toRoute = [];
  // The live flows are read once for the batch, and only for events old enough to be history.
  const flows = flowsOfPass(deps.db);
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
    eventsAccepted.inc({ type: call.callType });
    outcomes[index] = {
      index,
      messageId: call.messageId,
      outcome: outcome.status,
      eventId: outcome.event.id,
      contactId: outcome.event.contactId,
      history: await historyOf(flows, outcome.event),
    };
    if (outcome.status === 'stored') toRoute.push(outcome.event);
  }
  // Per item (a whole batch refused before this point is counted once by countRefusedIngestion).
  for (const o of outcomes) if (o.outcome === 'rejected') eventsRejected.inc({ reason: o.code });
  routeInBackground(deps, toRoute);
  // Confirmation emails after the answer, like routing: the batch is durable, a failed send is on its message row.
  const confirmations = stored.flatMap((o) =>
    o.status === 'stored' && o.confirmEmail ? [{ contactId: o.event.contactId, ...o.confirmEmail }] : [],
  );
  if (confirmations.length > 0)
    void (async () => {
      for (const c of confirmations) await confirmEmail(deps, c.contactId, c.consentEventId);
    })().catch((err) => deps.log.error({ err }, 'sending double opt-in confirmations failed'));
  return outcomes;
}

/** Sends the confirmation of the pending email subscription `consentEventId` (asked with a write key). */
async function confirmEmail(deps: IngestDeps, contactId: string, consentEventId: number): Promise<EmailConfirmation> {
  if (!deps.confirmations) return { status: 'not_sent', reason: 'double opt-in is not configured (no email provider)' };
  const contact = await getContact(deps.db, contactId);
  if (!contact?.email) return { status: 'not_sent', reason: 'the contact has no email address yet' };
  return sendConfirmation(deps.db, deps.confirmations, {
    contactId,
    to: contact.email,
    consentEventId,
    traits: contact.traits,
  });
}

/** Every id a call would store under or merge: any of them erased, the call is the erased person's. */
const idsOf = (call: PreparedCall): string[] => [
  call.contactId,
  ...call.mergeFrom,
  ...(call.mergeFromIfExists ? [call.mergeFromIfExists] : []),
];

async function erasedCalls(db: Db, calls: PreparedCall[]): Promise<boolean[]> {
  const erased = await erasedAmong(db, [...new Set(calls.flatMap(idsOf))]);
  return calls.map((call) => idsOf(call).some((id) => erased.has(id)));
}

function messageIdOf(raw: unknown): { messageId?: string } {
  const id = raw !== null && typeof raw === 'object' ? (raw as { messageId?: unknown }).messageId : undefined;
  return typeof id === 'string' || typeof id === 'number' ? { messageId: String(id).slice(0, 255) } : {};
}
