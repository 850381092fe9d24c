/**
 * What the shop webhooks share: storing a connector's Segment calls through the same
 * validation and ingestion as /v1/track and /v1/identify (store, then route), and finding
 * the contact of an order that a later webhook (a refund) names only by its id.
 */
import { ZodError, type z } from 'zod';
import { parseExactJson } from '../../connectors/exact-json';
import { SHOP_EVENTS, type ConnectorOutcome, type SegmentCall } from '../../connectors/segment';
import type { Queryable } from '../../db/pool';
import { zodIssues } from '../../flows/validate';
import { HttpError } from '../errors';
import { ingestIdentify, ingestTrack, type IngestDeps, type IngestResult } from '../events/ingest';
import { identifyPayload, trackPayload } from '../events/schemas';

export interface StoredCall {
  type: SegmentCall['type'];
  event?: string;
  messageId: string;
  eventId: number;
  contactId: string;
  duplicate: boolean;
  routing: IngestResult['routing'];
}

export type WebhookAnswer = { topic: string; ignored: string } | { topic: string; stored: StoredCall[] };

/** Stores the calls in order (an identify before the event it explains); a retry finds them stored. */
export async function ingestCalls(deps: IngestDeps, topic: string, outcome: ConnectorOutcome): Promise<WebhookAnswer> {
  if ('ignored' in outcome) return { topic, ignored: outcome.ignored };
  const stored: StoredCall[] = [];
  for (const call of outcome.calls) {
    const result =
      call.type === 'track'
        ? await ingestTrack(deps, validCall(trackPayload, call))
        : await ingestIdentify(deps, validCall(identifyPayload, call));
    stored.push({
      type: call.type,
      ...(call.type === 'track' ? { event: call.event } : {}),
      messageId: result.messageId,
      eventId: result.eventId,
      contactId: result.contactId,
      duplicate: result.duplicate,
      routing: result.routing,
    });
  }
  return { topic, stored };
}

// The connectors build these calls: one that does not validate is a connector bug (a 500), not the shop's.
function validCall<S extends z.ZodType>(schema: S, call: SegmentCall): z.output<S> {
  const parsed = schema.safeParse(call);
  if (!parsed.success) throw new Error(`connector produced an invalid ${call.type}: ${parsed.error.message}`);
  return parsed.data;
}

/** The contact whose Order Completed from this source carried this order id, if it reached us. */
export async function findOrderContact(
  db: Queryable,
  source: 'shopify' | 'woocommerce',
  orderId: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ contact_id: string }>(
    `SELECT contact_id FROM events
      WHERE type = 'track' AND name = $1 AND properties->>'order_id' = $2 AND context->'source'->>'name' = $3
      ORDER BY id LIMIT 1`,
    [SHOP_EVENTS.orderCompleted, orderId, source],
  );
  return rows[0]?.contact_id;
}

export function requiredHeader(value: string | undefined, name: string): string {
  if (!value?.trim())
    throw new HttpError(400, 'invalid_request', `the ${name} header is required`, [
      { path: [name], message: 'required' },
    ]);
  return value.trim();
}

/** A verified delivery's body as JSON, ids kept exact; not JSON is the sender's 400. */
export function parseWebhookJson(body: Buffer): unknown {
  try {
    return parseExactJson(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
  }
}

/**
 * Maps a delivery and stores its calls; a payload the connector's schema refuses is a 400
 * naming the paths (the platform changed its format, or someone else posts here).
 */
export async function ingestDelivery(
  deps: IngestDeps,
  platform: string,
  topic: string,
  map: () => ConnectorOutcome | Promise<ConnectorOutcome>,
): Promise<WebhookAnswer> {
  let outcome: ConnectorOutcome;
  try {
    outcome = await map();
  } catch (err) {
    if (err instanceof ZodError)
      throw new HttpError(
        400,
        'invalid_request',
        `the ${topic} payload is not what ${platform} documents`,
        zodIssues(err),
      );
    throw err;
  }
  return ingestCalls(deps, topic, outcome);
}
