/**
 * One engagement fact about a message we sent (from SendGrid, Twilio, our pixel, click
 * redirect or unsubscribe link): stored once, kept on the message, turned into consent
 * changes, and into a contact event (Email Opened, Email Clicked…) that is routed like any
 * other, so journeys waiting on it hear it as a signal.
 *
 * All of it is one transaction: the dedupe row (message_events) commits together with the
 * suppression and the contact event, or not at all, so a webhook retried after a failure half
 * way is applied in full instead of being dropped as a duplicate.
 */
import { writeConsent } from '../db/consent';
import { upsertContact } from '../db/contacts';
import { applyStats } from '../db/contact-stats';
import { insertEvent, type StoredEvent } from '../db/events';
import { applyToMessage, insertMessageEvent, type MessageEventInput } from '../db/message-events';
import { getMessage, suppress, type MessageRecord } from '../db/messages';
import { inTransaction, type Queryable } from '../db/pool';
import { routeStored, type RouterDeps } from '../routing/router';
import { EVENTS } from '../flows/event-names';

/** Contact events named after engagement; `properties.message_id` ties them to the message. */
const CONTACT_EVENT: Record<string, string> = {
  delivered: EVENTS.emailDelivered,
  open: EVENTS.emailOpened,
  click: EVENTS.emailClicked,
  bounce: EVENTS.emailBounced,
  dropped: EVENTS.emailDropped,
  spamreport: EVENTS.emailMarkedAsSpam,
  unsubscribe: EVENTS.unsubscribed,
  group_unsubscribe: EVENTS.unsubscribed,
};
const SMS_CONTACT_EVENT: Record<string, string> = {
  delivered: EVENTS.smsDelivered,
  undelivered: EVENTS.smsUndelivered,
  failed: EVENTS.smsFailed,
};

export type EngagementOutcome = 'recorded' | 'duplicate' | 'unknown_message';

export async function recordEngagement(
  deps: RouterDeps,
  input: Omit<MessageEventInput, 'messageId'> & { message: MessageRecord | string },
): Promise<EngagementOutcome> {
  const message = typeof input.message === 'string' ? await getMessage(deps.db, input.message) : input.message;
  if (!message) return 'unknown_message';
  // Engagement cannot precede the send: a provider's clock running behind ours would otherwise
  // place an open before the journey that sent the message.
  if (message.sentAt && Date.parse(input.occurredAt) < Date.parse(message.sentAt))
    input = { ...input, occurredAt: message.sentAt };
  const fact = input;

  const stored = await inTransaction(deps.db, async (tx) => {
    const fresh = await insertMessageEvent(tx, { ...fact, messageId: message.id });
    if (!fresh) return 'duplicate' as const;
    await applyToMessage(tx, message.id, fact.type, fact.occurredAt);
    await applyConsent(tx, message, fact);
    return { event: await storeContactEvent(tx, message, fact) };
  });
  if (stored === 'duplicate') return 'duplicate';
  // After commit: a routing failure leaves the stored event to redelivery, never undoes the facts above.
  if (stored.event) await routeStored(deps, stored.event);
  return 'recorded';
}

/** The contact event (Email Opened…) for this fact, stored in the caller's transaction; none for facts without one. */
async function storeContactEvent(
  tx: Queryable,
  message: MessageRecord,
  fact: Omit<MessageEventInput, 'messageId'>,
): Promise<StoredEvent | undefined> {
  const name = message.channel === 'sms' ? SMS_CONTACT_EVENT[fact.type] : CONTACT_EVENT[fact.type];
  if (!name) return undefined;
  await upsertContact(tx, message.contactId); // normally there; a deleted contact is recreated as ingest would
  const { event, duplicate } = await insertEvent(tx, {
    type: 'track',
    name,
    // Deterministic: a webhook retried after this committed maps to the same stored event.
    messageId: `${fact.source}:${fact.sourceEventId}`,
    contactId: message.contactId,
    occurredAt: fact.occurredAt,
    properties: {
      message_id: message.id,
      flow_id: message.flowId,
      flow_version: message.flowVersion,
      step_id: message.stepId,
      journey_run_id: message.journeyRunId,
      channel: message.channel,
      // A flow can trigger on a campaign's clicks (Email Clicked where campaign_id equals ...).
      ...(message.campaignId ? { campaign_id: message.campaignId } : {}),
      ...fact.data,
    },
    context: {},
  });
  // Last open and last click are computed attributes, counted with the event that says so.
  if (!duplicate) await applyStats(tx, [event]);
  return duplicate && event.routedAt ? undefined : event;
}

async function applyConsent(
  tx: Queryable,
  message: MessageRecord,
  input: Pick<MessageEventInput, 'type' | 'data' | 'source' | 'occurredAt'>,
): Promise<void> {
  if (!message.recipient) return;
  const unsubscribe = input.type === 'unsubscribe' || input.type === 'group_unsubscribe';
  // Withdrawn consent is the contact's consent state (and a stored Consent Changed event); the address it was sent to
  // is suppressed as the consent policy says, even when it is no longer the contact's.
  if ((unsubscribe || input.type === 'spamreport') && message.channel === 'email') {
    await writeConsent(tx, {
      contactId: message.contactId,
      channel: 'email',
      status: 'unsubscribed',
      address: message.recipient,
      source:
        input.type === 'spamreport'
          ? 'spam_report'
          : input.data.via === 'preference_page'
            ? 'preference_page'
            : input.source === 'unsubscribe'
              ? 'unsubscribe_link'
              : `${input.source}_unsubscribe`,
      ip: typeof input.data.ip === 'string' ? input.data.ip : null,
      userAgent: typeof input.data.user_agent === 'string' ? input.data.user_agent : null,
      occurredAt: input.occurredAt,
    });
  }
  // A hard bounce ("bounce"), not a block ("blocked", often temporary).
  if (input.type === 'bounce' && input.data.bounce_type !== 'blocked')
    await suppress(tx, 'email', message.recipient, `hard bounce: ${String(input.data.reason ?? '')}`.trim(), 'all');
}
