/**
 * Twilio's status callbacks (queued → sent → delivered / undelivered / failed) and inbound
 * messages (STOP and START keywords), both signed with X-Twilio-Signature: HMAC-SHA1 of the
 * public URL Twilio called and the sorted form parameters, with the account's auth token.
 */
import express, { Router, type Request } from 'express';
import twilio from 'twilio';
import { writeConsentByAddress } from '../../db/consent';
import { smsKeywordSource } from '../../audiences/consent-policy';
import { findMessageByProviderId } from '../../db/messages';
import { inTransaction } from '../../db/pool';
import { routeStored } from '../../routing/router';
import { recordEngagement } from '../../engagement/record';
import type { IngestDeps } from '../events/ingest';
import { HttpError } from '../errors';

// Twilio's opt-out and opt-in keywords; Twilio itself then blocks (or allows) the number.
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'CANCEL']);
const START = new Set(['START', 'UNSTOP']);

export function twilioWebhookRouter(
  deps: IngestDeps & { webhooks: { twilioAuthToken?: string; publicUrl: string } },
): Router {
  const router = Router();
  router.use('/twilio', express.urlencoded({ extended: false, limit: '64kb' }));

  const verified = (req: Request): Record<string, string> => {
    const token = deps.webhooks.twilioAuthToken;
    if (!token)
      throw new HttpError(404, 'not_configured', 'the Twilio webhooks are not configured (TWILIO_AUTH_TOKEN)');
    const params = (req.body ?? {}) as Record<string, string>;
    // Behind a proxy the URL Twilio signed is the public one, not the one we see.
    const url = `${deps.webhooks.publicUrl}${req.originalUrl}`;
    if (!twilio.validateRequest(token, req.get('x-twilio-signature') ?? '', url, params)) {
      throw new HttpError(403, 'invalid_signature', 'the X-Twilio-Signature does not verify');
    }
    return params;
  };

  router.post('/twilio/status', async (req, res) => {
    const params = verified(req);
    const sid = params.MessageSid;
    const status = params.MessageStatus;
    if (!sid || !status) throw new HttpError(400, 'invalid_request', 'MessageSid and MessageStatus are required');
    const message = await findMessageByProviderId(deps.db, 'twilio', sid);
    const outcome = message
      ? await recordEngagement(deps, {
          message,
          source: 'twilio',
          sourceEventId: `${sid}:${status}`,
          type: status,
          occurredAt: new Date().toISOString(),
          data: { ...(params.ErrorCode ? { error_code: params.ErrorCode } : {}) },
        })
      : 'unknown_message';
    res.json({ outcome });
  });

  router.post('/twilio/inbound', async (req, res) => {
    const params = verified(req);
    const keyword = (params.Body ?? '').trim().toUpperCase();
    const from = params.From;
    // The keyword is the person's own decision, said to the carrier: it suppresses (or frees) the number, and it is
    // the SMS consent of every contact with that number.
    if (from && (STOP.has(keyword) || START.has(keyword))) {
      const status = STOP.has(keyword) ? 'unsubscribed' : 'subscribed';
      const events = await inTransaction(deps.db, (tx) =>
        writeConsentByAddress(tx, { channel: 'sms', address: from, status, source: smsKeywordSource(keyword) }),
      );
      for (const event of events) await routeStored(deps, event, { inline: true });
    }
    res.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response/>');
  });

  return router;
}
