/**
 * One Segment call (any type, alone or from a batch) checked and turned into what is stored:
 * the contact it is about, the traits it sets, the contacts it merges, the event row. Pure: no
 * I/O, so a batch is prepared whole before one transaction stores it.
 */
import { randomUUID } from 'node:crypto';
import type { WriteKeyRequest } from '../../audiences/consent-policy';
import type { Issue } from '../../flows/validate';
import { unstorableJson } from '../../connectors/storable-json';
import { parseRequest } from '../validate';
import type { PreparedCall } from '../../services/event-store';
import { CALL_TYPES, type CallType } from './paths';
import {
  callSchemas,
  MAX_EVENT_BYTES,
  plainTrack,
  type AliasPayload,
  type GroupPayload,
  type IdentifyPayload,
  type PagePayload,
  type ScreenPayload,
  type TrackPayload,
} from './schemas';

/** Page and screen calls are stored as these track events, so flows trigger on and filter them. */
export const PAGE_VIEWED = 'Page Viewed';
export const SCREEN_VIEWED = 'Screen Viewed';

export interface Rejection {
  code: string;
  message: string;
  issues: Issue[];
}

export interface CallEnvelope {
  /** The batch's `context`, under each item's own. */
  context?: Record<string, unknown>;
  /** The batch's `sentAt`, when an item has none of its own. */
  sentAt?: string;
  /** When the request arrived (clock-skew correction, and the time of calls without a timestamp). */
  receivedAt: number;
  /** The request's key was a write key: where the request came from. */
  writeKey?: WriteKeyRequest;
}

export const anonymousContactId = (anonymousId: string) => `anonymous:${anonymousId}`;
export const contactIdOf = (p: { userId?: string; anonymousId?: string }): string =>
  p.userId ?? anonymousContactId(p.anonymousId!);

/** Fields that have their own column or meaning; every other field a client sends is kept in context. */
const OWN_FIELDS = [
  'type',
  'userId',
  'anonymousId',
  'messageId',
  'timestamp',
  'writeKey',
  'context',
  'event',
  'properties',
  'traits',
  'name',
  'category',
  'groupId',
  'previousId',
];

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Segment's libraries send `null` for absent optional fields (Python: `"anonymousId": null`). */
const withoutNulls = (value: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));

/**
 * A call as the client sent it (the body of /v1/<type>, or one batch item) to what is stored,
 * or the reason it is refused. `type` is the route's type for /v1/<type>; a batch item names its own.
 * `checkSize: false` for calls our own connectors build (they keep a webhook's raw payload,
 * which may be larger than a client's event may be).
 */
export function prepareCall(
  raw: unknown,
  envelope: CallEnvelope,
  routeType?: CallType,
  opts: { checkSize?: boolean } = {},
): { call: PreparedCall } | { rejected: Rejection } {
  if (!isObject(raw))
    return reject('invalid_request', 'each call must be a JSON object', [{ path: [], message: 'must be an object' }]);
  const item = withoutNulls(raw);
  if (isObject(item.context)) item.context = withoutNulls(item.context);
  if (envelope.context) item.context = { ...envelope.context, ...(isObject(item.context) ? item.context : {}) };
  delete item.writeKey;

  const type = routeType ?? item.type;
  if (routeType === undefined && typeof type !== 'string') {
    return reject('invalid_request', 'type is required', [
      { path: ['type'], message: `type is required (one of ${CALL_TYPES.join(', ')})` },
    ]);
  }
  if (!(CALL_TYPES as readonly unknown[]).includes(type)) {
    return reject('unsupported_type', 'this call type is not supported', [
      {
        path: ['type'],
        message: `type "${String(type).slice(0, 100)}" is not supported; use one of ${CALL_TYPES.join(', ')}`,
      },
    ]);
  }
  const callType = type as CallType;
  // Most calls are plain track calls: checked without zod (the same result), after the checks no schema can make.
  const plain = callType === 'track' && unstorableJson(item) === undefined ? plainTrack(item) : undefined;
  const parsed = plain ? { success: true as const, data: plain } : parseRequest(callSchemas[callType], item);
  if (!parsed.success) return reject('invalid_request', 'the call is invalid', parsed.issues);
  if (opts.checkSize !== false && Buffer.byteLength(JSON.stringify(item)) > MAX_EVENT_BYTES) {
    return reject('event_too_large', 'an event may be at most 32 KB', [
      { path: [], message: 'an event may be at most 32 KB' },
    ]);
  }
  const occurredAt = correctedTime(
    parsed.data.timestamp ?? parsed.data.originalTimestamp,
    parsed.data.sentAt ?? envelope.sentAt,
    envelope.receivedAt,
  );
  if ('issue' in occurredAt) return reject('invalid_request', 'the call is invalid', [occurredAt.issue]);
  const rest = Object.fromEntries(Object.entries(item).filter(([k]) => !OWN_FIELDS.includes(k)));
  const context = { ...(isObject(parsed.data.context) ? parsed.data.context : {}), ...rest };
  const contextTraits = isObject(context.traits) ? context.traits : {};
  const base = {
    callType,
    ...(envelope.writeKey ? { writeKey: writeKeyProof(envelope.writeKey, context) } : {}),
    // Segment's libraries always send a messageId; without one a retry cannot be recognised.
    messageId: parsed.data.messageId ?? `parcours-${randomUUID()}`,
    occurredAt: occurredAt.iso,
    mergeFrom: [] as string[],
  };
  return { call: { ...base, ...shape(callType, parsed.data, context, contextTraits) } };
}

type Shaped = Omit<PreparedCall, 'callType' | 'messageId' | 'occurredAt' | 'mergeFrom'> & { mergeFrom?: string[] };

function shape(
  callType: CallType,
  data: unknown,
  context: Record<string, unknown>,
  contextTraits: Record<string, unknown>,
): Shaped {
  switch (callType) {
    case 'track': {
      const p = data as TrackPayload;
      return {
        contactId: contactIdOf(p),
        traits: contextTraits,
        type: 'track',
        name: p.event,
        properties: p.properties,
        context,
      };
    }
    case 'identify': {
      const p = data as IdentifyPayload;
      const traits = { ...contextTraits, ...p.traits };
      // An identify carrying both ids says the anonymous visitor is this user.
      const mergeFrom =
        p.userId !== undefined && p.anonymousId !== undefined ? [anonymousContactId(p.anonymousId)] : [];
      return { contactId: contactIdOf(p), traits, mergeFrom, type: 'identify', properties: p.traits, context };
    }
    case 'page':
    case 'screen': {
      const p = data as PagePayload | ScreenPayload;
      // analytics.js also puts the page's url, path, title… in context.page; properties win.
      const page = callType === 'page' && isObject(context.page) ? context.page : {};
      const properties = {
        ...page,
        ...p.properties,
        ...(p.name === undefined ? {} : { name: p.name }),
        ...(p.category === undefined ? {} : { category: p.category }),
      };
      return {
        contactId: contactIdOf(p),
        traits: contextTraits,
        type: 'track',
        name: callType === 'page' ? PAGE_VIEWED : SCREEN_VIEWED,
        properties,
        context: { ...context, call: callType },
      };
    }
    case 'group': {
      const p = data as GroupPayload;
      return {
        contactId: contactIdOf(p),
        traits: contextTraits,
        group: { groupId: p.groupId, traits: p.traits },
        type: 'group',
        properties: { groupId: p.groupId, traits: p.traits },
        context,
      };
    }
    case 'alias': {
      const p = data as AliasPayload;
      return {
        contactId: p.userId,
        traits: contextTraits,
        mergeFrom: p.previousId === p.userId ? [] : [anonymousContactId(p.previousId)],
        ...(p.previousId === p.userId ? {} : { mergeFromIfExists: p.previousId }),
        type: 'alias',
        properties: { previousId: p.previousId, userId: p.userId },
        context,
      };
    }
  }
}

/** A write key's request as proof: the request's ip and user agent, and the page the call says it was sent from. */
function writeKeyProof(request: WriteKeyRequest, context: Record<string, unknown>): WriteKeyRequest {
  const page = isObject(context.page) && typeof context.page.url === 'string' ? context.page.url.slice(0, 2000) : null;
  return { ...request, proof: { via: 'write_key', ...(page ? { page } : {}) } };
}

/**
 * Segment's clock-skew correction: a device whose clock is off stamps both `timestamp` and
 * `sentAt` with it, so timestamp + (receivedAt - sentAt) is the time on our clock. A call
 * without a timestamp happened when it was received.
 */
function correctedTime(
  timestamp: string | undefined,
  sentAt: string | undefined,
  receivedAt: number,
): { iso: string } | { issue: Issue } {
  if (timestamp === undefined) return { iso: new Date(receivedAt).toISOString() };
  if (sentAt === undefined) return { iso: timestamp };
  const corrected = Date.parse(timestamp) + (receivedAt - Date.parse(sentAt));
  const year = new Date(corrected).getUTCFullYear();
  if (!Number.isFinite(corrected) || year < 1 || year > 9999)
    return { issue: { path: ['sentAt'], message: 'timestamp corrected by sentAt falls outside years 1-9999' } };
  return { iso: new Date(corrected).toISOString() };
}

function reject(code: string, message: string, issues: Issue[]): { rejected: Rejection } {
  return { rejected: { code, message, issues } };
}
