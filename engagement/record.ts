/**
 * One engagement fact about a message we sent (from SendGrid, Twilio, our pixel, click
 * redirect or unsubscribe link): stored once, kept on the message, turned into consent
 * changes, and into a contact event (Email Opened, Email Clicked…) that is routed like any
 * other, so journeys waiting on it hear it as a signal.
 */
import { applyToMessage, insertMessageEvent, type MessageEventInput } from '../db/message-events';
import { getMessage, suppress, type MessageRecord } from '../db/messages';
import { ingestTrack, type IngestDeps } from '../api/events/ingest';

/** Contact events named after engagement; `properties.message_id` ties them to the message. */
const CONTACT_EVENT: Record<string, string> = {
  delivered: 'Email Delivered',
  open: 'Email Opened',
  click: 'Email Clicked',
  bounce: 'Email Bounced',
  dropped: 'Email Dropped',
  spamreport: 'Email Marked as Spam',
  unsubscribe: 'Unsubscribed',
  group_unsubscribe: 'Unsubscribed',
};
const SMS_CONTACT_EVENT: Record<string, string> = { delivered: 'SMS Delivered', undelivered: 'SMS Undelivered', failed: 'SMS Failed' };

export type EngagementOutcome = 'recorded' | 'duplicate' | 'unknown_message';

export async function recordEngagement(deps: IngestDeps, input: Omit<MessageEventInput, 'messageId'> & { message: MessageRecord | string }): Promise<EngagementOutcome> {
  const message = typeof input.message === 'string' ? await getMessage(deps.db, input.message) : input.message;
  if (!message) return 'unknown_message';
  // Engagement cannot precede the send: a provider's clock running behind ours would otherwise
  // place an open before the journey that sent the message.
  if (message.sentAt && Date.parse(input.occurredAt) < Date.parse(message.sentAt)) input = { ...input, occurredAt: message.sentAt };
  const fresh = await insertMessageEvent(deps.db, { ...input, messageId: message.id });
  if (!fresh) return 'duplicate';
  await applyToMessage(deps.db, message.id, input.type, input.occurredAt);
  await applyConsent(deps, message, input);

  const name = message.channel === 'sms' ? SMS_CONTACT_EVENT[input.type] : CONTACT_EVENT[input.type];
  if (name) {
    await ingestTrack(deps, {
      userId: message.contactId,
      event: name,
      messageId: `${input.source}:${input.sourceEventId}`,
      timestamp: input.occurredAt,
      properties: {
        message_id: message.id,
        flow_id: message.flowId,
        flow_version: message.flowVersion,
        step_id: message.stepId,
        journey_run_id: message.journeyRunId,
        channel: message.channel,
        ...input.data,
      },
    });
  }
  return 'recorded';
}

async function applyConsent(deps: IngestDeps, message: MessageRecord, input: Pick<MessageEventInput, 'type' | 'data' | 'source'>): Promise<void> {
  if (!message.recipient) return;
  if (input.type === 'unsubscribe' || input.type === 'group_unsubscribe') await suppress(deps.db, 'email', message.recipient, `unsubscribed (${input.source})`, 'marketing');
  if (input.type === 'spamreport') await suppress(deps.db, 'email', message.recipient, 'spam report', 'marketing');
  // A hard bounce ("bounce"), not a block ("blocked", often temporary).
  if (input.type === 'bounce' && input.data.bounce_type !== 'blocked') await suppress(deps.db, 'email', message.recipient, `hard bounce: ${String(input.data.reason ?? '')}`.trim(), 'all');
}
