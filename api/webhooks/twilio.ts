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
import { localesOfPhone } from '../../db/contacts';
import { escapeHtml } from '../../locales/texts';
import { contactLanguage, ENGLISH_ONLY, textOf, type Texts } from '../../locales/texts';
import { inTransaction } from '../../db/pool';
import { routeStored } from '../../routing/router';
import { recordEngagements } from '../../engagement/record';
import type { IngestDeps } from '../events/ingest';
import { z } from 'zod';
import { HttpError } from '../errors';
import { parseOr400 } from '../validate';

// Twilio's opt-out and opt-in keywords; Twilio itself then blocks (or allows) the number.
const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'CANCEL']);
const START = new Set(['START', 'UNSTOP']);

/**
 * The form fields read, each one value (a repeated field is an array in the parsed form): a
 * form Twilio never sends is a 400 naming the field, checked after the signature.
 */
const field = (max: number) => z.string().max(max);
const statusForm = z.looseObject({
  MessageSid: field(64).min(1, 'required'),
  MessageStatus: field(32).min(1, 'required'),
  ErrorCode: field(16).optional(),
});
const inboundForm = z.looseObject({ From: field(64).optional(), Body: field(1_600).optional() });

export function twilioWebhookRouter(
  deps: IngestDeps & { webhooks: { twilioAuthToken?: string; publicUrl: string }; texts?: Texts },
): Router {
  const texts = deps.texts ?? ENGLISH_ONLY;
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
    const params = parseOr400(statusForm, verified(req));
    const sid = params.MessageSid;
    const status = params.MessageStatus;
    const message = await findMessageByProviderId(deps.db, 'twilio', sid);
    // Answered once stored; routed in the background (Twilio retries only what was not stored).
    const [outcome] = message
      ? await recordEngagements(
          deps,
          [
            {
              message,
              source: 'twilio',
              sourceEventId: `${sid}:${status}`,
              type: status,
              occurredAt: new Date().toISOString(),
              data: { ...(params.ErrorCode ? { error_code: params.ErrorCode } : {}) },
            },
          ],
          { routing: 'background' },
        )
      : ['unknown_message' as const];
    res.json({ outcome });
  });

  router.post('/twilio/inbound', async (req, res) => {
    const params = parseOr400(inboundForm, verified(req));
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
      // The confirmation in the person's language (the number's contacts' `locale` trait, else DEFAULT_LOCALE);
      // a shop that leaves the reply to Twilio's own opt-out handling sets the text empty.
      const locale = (await localesOfPhone(deps.db, from)).find((l) => typeof l === 'string');
      const language = contactLanguage(texts, { locale });
      const reply = textOf(texts, language, STOP.has(keyword) ? 'sms.stop_reply' : 'sms.start_reply').trim();
      if (reply)
        return void res
          .type('text/xml')
          .send(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>${escapeHtml(reply)}</Message></Response>`);
    }
    res.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response/>');
  });

  return router;
}
