/**
 * The webhook step: POST the rendered JSON body to the flow's URL, signed so the receiver can
 * trust it: `X-Parcours-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * `X-Parcours-Delivery` is the same on every retry, for the receiver to deduplicate.
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { beginAttempt, findMessage, finishAttempt, type MessageKey } from '../db/messages';
import type { Queryable } from '../db/pool';
import type { StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import { getContact } from '../db/contacts';
import { profileOf } from './facts';
import { checkGuard, type GuardRequest, type GuardStop } from './guard';
import { journeyData } from './send-message';
import { ProviderError } from './providers/types';

export type WebhookOutcome = { status: 'sent'; messageId: string; httpStatus: number } | GuardStop;

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export async function callWebhook(db: Queryable, secret: string | undefined, req: GuardRequest & { step: StepOf<'webhook'> }): Promise<WebhookOutcome> {
  const { journey, step } = req;
  const previous = await findMessage(db, journey.runId, step.id);
  if (previous?.status === 'sent') return { status: 'sent', messageId: previous.id, httpStatus: Number(previous.providerMessageId) || 200 };
  const stop = await checkGuard(db, req, { holdWhenPaused: true });
  if (stop) return stop;
  if (!secret) throw ApplicationFailure.nonRetryable('WEBHOOK_SECRET is not set: webhook steps are signed with it', 'ConfigurationError');

  const contact = await getContact(db, journey.contactId);
  const { body } = await renderFields(step, {
    contact: profileOf(contact),
    event: { name: req.trigger.name, properties: req.trigger.properties, timestamp: req.trigger.timestamp },
    journey: journeyData(journey),
  });
  try {
    JSON.parse(body);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`webhook body of step ${step.id} is not JSON once rendered: ${(err as Error).message}`, 'TemplateError');
  }
  const key: MessageKey = { journeyRunId: journey.runId, flowId: journey.flowId, flowVersion: journey.flowVersion, stepId: step.id, contactId: journey.contactId, channel: 'webhook', transactional: true };
  const message = await beginAttempt(db, key, { recipient: step.url, provider: 'webhook', content: { body } });
  const timestamp = Math.floor(Date.now() / 1000);
  let response: Response;
  try {
    response = await fetch(step.url, {
      method: 'POST',
      headers: {
        ...step.headers,
        'content-type': 'application/json',
        'user-agent': 'Parcours-Webhook/1',
        'x-parcours-delivery': `${journey.runId}:${step.id}`,
        'x-parcours-signature': signWebhook(secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    await finishAttempt(db, message.id, { status: 'retrying', reason: `network: ${(err as Error).message}` });
    throw new ProviderError(`webhook network error: ${(err as Error).message}`, true);
  }
  if (response.ok) {
    await finishAttempt(db, message.id, { status: 'sent', providerMessageId: String(response.status), sentAt: new Date(Math.max(req.now, Date.now())) });
    return { status: 'sent', messageId: message.id, httpStatus: response.status };
  }
  const error = ProviderError.fromStatus('Webhook', response.status, (await response.text()).slice(0, 300));
  await finishAttempt(db, message.id, { status: error.retryable ? 'retrying' : 'failed', reason: error.message });
  if (error.retryable) throw error;
  throw ApplicationFailure.nonRetryable(error.message, 'ProviderRejected', { messageId: message.id, status: response.status });
}
