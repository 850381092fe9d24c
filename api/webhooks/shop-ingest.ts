/**
 * What the shop webhooks share: storing a connector's Segment calls through the same
 * validation and ingestion as /v1/track and /v1/identify (store, then route).
 */
import { ZodError, type z } from 'zod';
import { parseExactJson } from '../../connectors/exact-json';
import { PayloadFieldError, type ConnectorOutcome, type SegmentCall } from '../../connectors/segment';
import { zodIssues } from '../../flows/validate';
import { HttpError, invalid } from '../errors';
import { parseRequest, storablePayloadOr400 } from '../validate';
import { ingestIdentify, ingestTrack, isErased, type IngestDeps, type IngestResult } from '../events/ingest';
import { identifyPayload, trackPayload } from '../events/schemas';

export type StoredCall =
  | {
      type: SegmentCall['type'];
      event?: string;
      messageId: string;
      eventId: number;
      contactId: string;
      duplicate: boolean;
      routing: IngestResult['routing'];
    }
  /** For an id erased at the person's request: not stored, acknowledged so the shop does not retry. */
  | { type: SegmentCall['type']; event?: string; messageId: string; erased: true };

export type WebhookAnswer = { topic: string; ignored: string } | { topic: string; stored: StoredCall[] };

/** Stores the calls in order (an identify before the event it explains); a retry finds them stored. */
export async function ingestCalls(deps: IngestDeps, topic: string, outcome: ConnectorOutcome): Promise<WebhookAnswer> {
  if ('ignored' in outcome) return { topic, ignored: outcome.ignored };
  // Every call is checked before the first is stored: a delivery is stored whole or not at all. Consent is not part
  // of the Segment call: it goes to the consent write with its proof.
  const valid = outcome.calls.map(({ consent: _consent, ...call }, i) =>
    call.type === 'track'
      ? { type: 'track' as const, payload: validCall(trackPayload, call, i) }
      : { type: 'identify' as const, payload: validCall(identifyPayload, call, i) },
  );
  const stored: StoredCall[] = [];
  for (const [i, call] of outcome.calls.entries()) {
    const checked = valid[i];
    const result =
      checked.type === 'track'
        ? await ingestTrack(deps, checked.payload, call.consent)
        : await ingestIdentify(deps, checked.payload, call.consent);
    const named = { type: call.type, ...(call.type === 'track' ? { event: call.event } : {}) };
    if (isErased(result)) {
      stored.push({ ...named, messageId: result.messageId, erased: true });
      continue;
    }
    stored.push({
      ...named,
      messageId: result.messageId,
      eventId: result.eventId,
      contactId: result.contactId,
      duplicate: result.duplicate,
      routing: result.routing,
    });
  }
  return { topic, stored };
}

/**
 * The connectors build these calls from the shop's fields: one that does not validate (an id
 * past 255 characters, a date it cannot hold) is the payload's 400 naming the call's path,
 * never a 500 that the platform would retry for days.
 */
function validCall<S extends z.ZodType>(schema: S, call: SegmentCall, index: number): z.output<S> {
  const parsed = parseRequest(schema, call);
  if (parsed.success) return parsed.data;
  const issues = parsed.issues.map((i) => ({ path: ['calls', index, ...i.path], message: i.message }));
  throw invalid(
    issues,
    `the payload maps to an invalid ${call.type}: ${issues[0].path.join('.')} ${issues[0].message}`,
  );
}

export function requiredHeader(value: string | undefined, name: string): string {
  if (!value?.trim())
    throw new HttpError(400, 'invalid_request', `the ${name} header is required`, [
      { path: [name], message: 'required' },
    ]);
  return value.trim();
}

/**
 * A verified delivery's body as JSON, ids kept exact; not JSON, or text Postgres cannot store
 * (a NUL, half a surrogate pair) in any field, is the sender's 400 naming the field.
 */
export function parseWebhookJson(body: Buffer): unknown {
  let payload: unknown;
  try {
    payload = parseExactJson(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
  }
  storablePayloadOr400(payload, 'webhook payload');
  return payload;
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
    if (err instanceof PayloadFieldError)
      throw invalid(
        [{ path: err.path, message: err.message }],
        `the ${topic} payload cannot be mapped: ${err.message}`,
      );
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
