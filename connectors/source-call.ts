/**
 * A generic source's delivery as a Segment track call: its mapping evaluated over the payload
 * (and the fetched document), the contact's email and phone as traits, the raw payload kept
 * in the context, and a messageId that a retry of the same delivery reproduces.
 */
import { createHash } from 'node:crypto';
import { storableInstant } from './storable-json';
import { evaluateExpression, MappingError } from './mapping';
import type { SourceMapping } from './source-config';

export interface SourceDelivery {
  sourceId: string;
  rawBody: Buffer;
  payload: unknown;
  fetched?: unknown;
}

/** Plain data for the track schema; the API validates it like any /v1/track body. */
export interface SourceTrackCall {
  userId?: string;
  anonymousId?: string;
  event: unknown;
  messageId: string;
  timestamp?: string;
  properties: Record<string, unknown>;
  context: {
    traits: Record<string, unknown>;
    source: { name: 'source'; id: string; deliveryId: string };
    raw: unknown;
    fetched?: unknown;
  };
}

export async function mapDelivery(mapping: SourceMapping, delivery: SourceDelivery): Promise<SourceTrackCall> {
  const evaluate = (field: keyof SourceMapping) => {
    const expression = mapping[field];
    return expression === undefined
      ? undefined
      : evaluateExpression(['mapping', field], expression, delivery.payload, { fetched: delivery.fetched });
  };
  const userId = single('userId', await evaluate('userId'));
  const anonymousId = single('anonymousId', await evaluate('anonymousId'));
  const email = single('email', await evaluate('email'));
  const phone = single('phone', await evaluate('phone'));
  const event = await evaluate('event');
  if (event === undefined)
    throw new MappingError(['mapping', 'event'], `${mapping.event} found nothing in the payload`);
  const properties = object('properties', await evaluate('properties'));
  const traits = object('traits', await evaluate('traits'));
  const timestamp = dateTime(await evaluate('timestamp'));
  const deliveryId =
    single('deliveryId', await evaluate('deliveryId')) ?? createHash('sha256').update(delivery.rawBody).digest('hex');

  // The shop connectors' contact rule: an id when the platform has one, else the email address.
  const contactId = userId ?? email?.toLowerCase();
  if (contactId === undefined && anonymousId === undefined) {
    const tried = (['userId', 'email', 'anonymousId'] as const)
      .filter((f) => mapping[f] !== undefined)
      .map((f) => `${f} (${mapping[f]})`);
    throw new MappingError(
      ['mapping', mapping.userId !== undefined ? 'userId' : mapping.email !== undefined ? 'email' : 'anonymousId'],
      `found no contact: ${tried.join(', ')} found nothing in the payload`,
    );
  }

  return {
    ...(contactId !== undefined ? { userId: contactId } : {}),
    ...(anonymousId !== undefined ? { anonymousId } : {}),
    event,
    messageId: `source:${delivery.sourceId}:${deliveryId}`,
    ...(timestamp ? { timestamp } : {}),
    properties,
    context: {
      traits: { ...traits, ...(email !== undefined ? { email } : {}), ...(phone !== undefined ? { phone } : {}) },
      source: { name: 'source', id: delivery.sourceId, deliveryId },
      raw: delivery.payload,
      ...(delivery.fetched !== undefined ? { fetched: delivery.fetched } : {}),
    },
  };
}

/** One string (numbers become strings, exactly as written); nothing found is undefined. */
function single(field: keyof SourceMapping, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  const what = Array.isArray(value) ? `${value.length} values` : `a ${typeof value}`;
  throw new MappingError(['mapping', field], `gave ${what}, expected one string`);
}

function object(field: 'properties' | 'traits', value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new MappingError(
    ['mapping', field],
    `gave ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}, expected an object`,
  );
}

/** ISO-8601 text or epoch milliseconds; nothing found means "now" (when it arrived). */
function dateTime(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const instant =
    typeof value === 'number' || typeof value === 'string' ? storableInstant(value) : { problem: 'not a date-time' };
  if ('problem' in instant)
    throw new MappingError(
      ['mapping', 'timestamp'],
      `gave ${JSON.stringify(value)}, expected an ISO-8601 date-time between years 1 and 9999`,
    );
  return instant.iso;
}
