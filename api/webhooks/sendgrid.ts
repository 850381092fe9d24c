/**
 * SendGrid's Event Webhook. Signed: ECDSA P-256 over timestamp + the exact raw body, checked
 * with the verification key from SendGrid's settings; requests older or newer than 5 minutes
 * are refused (SendGrid defines no replay window). Events are correlated through the custom
 * args we set on each send and deduplicated by sg_event_id.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import express, { Router } from 'express';
import { z } from 'zod';
import { recordEngagements, type EngagementInput, type EngagementOutcome } from '../../engagement/record';
import type { IngestDeps } from '../events/ingest';
import type { Issue } from '../../flows/validate';
import { HttpError } from '../errors';
import { storableInstant } from '../../connectors/storable-json';
import { parseRequest } from '../validate';

export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';
const REPLAY_WINDOW_S = 5 * 60;

const sendgridEvent = z.looseObject({
  event: z.string().min(1).max(100),
  timestamp: z.number(),
  sg_event_id: z.string().min(1).max(255),
  parcours_message_id: z.string().max(255).optional(),
});
/** Issues listed in an answer; a batch of thousands of bad events is counted, not echoed whole. */
const MAX_REPORTED = 100;

export function verifySendgridSignature(
  key: KeyObject,
  signature: string,
  timestamp: string,
  rawBody: Buffer,
): boolean {
  try {
    return verify('sha256', Buffer.concat([Buffer.from(timestamp), rawBody]), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export function sendgridWebhookRouter(deps: IngestDeps & { webhooks: { sendgridPublicKey?: string } }): Router {
  const router = Router();
  const key = deps.webhooks.sendgridPublicKey
    ? createPublicKey({ key: Buffer.from(deps.webhooks.sendgridPublicKey, 'base64'), format: 'der', type: 'spki' })
    : undefined;

  // The signature covers the exact bytes: parse JSON only after verifying them.
  router.post('/sendgrid', express.raw({ type: () => true, limit: '5mb' }), async (req, res) => {
    if (!key)
      throw new HttpError(
        404,
        'not_configured',
        'the SendGrid webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)',
      );
    const signature = req.get(SIGNATURE_HEADER);
    const timestamp = req.get(TIMESTAMP_HEADER);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!signature || !timestamp || !verifySendgridSignature(key, signature, timestamp, body)) {
      throw new HttpError(401, 'invalid_signature', 'the webhook signature does not verify');
    }
    if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > REPLAY_WINDOW_S) {
      throw new HttpError(401, 'stale_request', 'the webhook timestamp is outside the 5-minute window');
    }
    let events: unknown;
    try {
      events = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
    }
    if (!Array.isArray(events)) throw new HttpError(400, 'invalid_request', 'expected a JSON array of SendGrid events');

    const counts: Record<EngagementOutcome | 'not_ours' | 'invalid', number> = {
      recorded: 0,
      duplicate: 0,
      unknown_message: 0,
      not_ours: 0,
      invalid: 0,
    };
    // Each event on its own: a bad one is reported with its index and path, the others are recorded.
    const issues: Issue[] = [];
    const facts: EngagementInput[] = [];
    for (const [index, item] of events.entries()) {
      const read = readEvent(item);
      if ('issues' in read) {
        counts.invalid += 1;
        if (issues.length < MAX_REPORTED) issues.push(...read.issues.map((i) => ({ ...i, path: [index, ...i.path] })));
        continue;
      }
      const { event: e, occurredAt } = read;
      if (!e.parcours_message_id) {
        counts.not_ours += 1; // sent by another system on the same SendGrid account
        continue;
      }
      const { event, timestamp: _at, sg_event_id, parcours_message_id, email: _email, ...rest } = e;
      const type = event === 'bounce' && rest.type === 'blocked' ? 'bounce' : event;
      facts.push({
        message: parcours_message_id,
        source: 'sendgrid',
        sourceEventId: sg_event_id,
        type,
        occurredAt,
        data: pick(rest, [
          'url',
          'reason',
          'status',
          'response',
          'sg_machine_open',
          'useragent',
          'asm_group_id',
        ]) as Record<string, unknown> & { bounce_type?: unknown },
      });
    }
    // The valid events in one transaction, answered once stored; routed in the background.
    for (const outcome of await recordEngagements(deps, facts, { routing: 'background' })) counts[outcome] += 1;
    // 2xx even for unknown messages and invalid events: SendGrid would retry them forever. A storage failure throws
    // (5xx) and SendGrid retries.
    res.json({ received: events.length, ...counts, ...(issues.length ? { issues } : {}) });
  });
  return router;
}

/** One event of the array, with when it happened as ISO text, or what is wrong with it. */
function readEvent(item: unknown): { event: z.output<typeof sendgridEvent>; occurredAt: string } | { issues: Issue[] } {
  const parsed = parseRequest(sendgridEvent, item);
  if (!parsed.success) return { issues: parsed.issues };
  const occurred = storableInstant(parsed.data.timestamp * 1000);
  if ('problem' in occurred)
    return { issues: [{ path: ['timestamp'], message: 'must be Unix seconds between years 1 and 9999' }] };
  return { event: parsed.data, occurredAt: occurred.iso };
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = Object.fromEntries(
    keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]),
  );
  if (source.type !== undefined) out.bounce_type = source.type;
  return out;
}
