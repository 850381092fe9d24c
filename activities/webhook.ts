/**
 * The webhook step: POST the rendered JSON body to the flow's URL, signed so the receiver can
 * trust it: `X-Parcours-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * `X-Parcours-Delivery` is the same on every retry, for the receiver to deduplicate.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DEFAULT_FLOW_PRIORITY } from '../audiences/frequency-cap';
import { flowHoldoutKey, isHeldOut } from '../audiences/holdout';
import { getFlowVersion } from '../db/flows';
import { claimMessage, findStepMessage, finishAttempt, recordSkipped } from '../db/messages';
import type { Queryable } from '../db/pool';
import type { StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import { getContact } from '../db/contacts';
import { checkGuard, type GuardRequest, type GuardStop } from './guard';
import { renderContext } from '../sending/render-context';
import { PROVIDER_TIMEOUT_MS, ProviderError } from './providers/types';
import { DEFAULT_LEASE_MS, handOver, messageKeyOf, settleFailure, settlePrevious, underClaim } from './send-claim';

export type WebhookOutcome =
  | { status: 'sent'; messageId: string; httpStatus: number }
  | { status: 'skipped'; messageId: string; reason: string }
  | GuardStop;

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Webhooks are delivered at least once: a call whose outcome is unknown (timeout, connection
 * closed) is made again, with the same X-Parcours-Delivery for the receiver to deduplicate.
 */
export async function callWebhook(
  db: Queryable,
  secret: string | undefined,
  req: GuardRequest & { step: StepOf<'webhook'> },
  opts: { timeoutMs?: number; leaseMs?: number } = {},
): Promise<WebhookOutcome> {
  const { journey, step } = req;
  // Webhooks are calls to other systems: never counted by the cap, whatever their priority.
  const key = messageKeyOf(journey, req.trigger.id, step.id, 'webhook', true, DEFAULT_FLOW_PRIORITY);
  const settled = await settlePrevious(db, await findStepMessage(db, key), { transactional: true });
  if (settled.kind !== 'open')
    return {
      status: 'sent',
      messageId: settled.message.id,
      httpStatus: Number(settled.message.providerMessageId) || 200,
    };
  const stop = await checkGuard(db, req, { holdWhenPaused: true });
  if (stop) return stop;
  // A control contact of the flow's holdout gets no marketing, and a webhook is marketing unless
  // the step says `transactional: true` (flows/schema.ts): read as send-message.ts reads it.
  if (!step.transactional) {
    const flow = await getFlowVersion(db, journey.flowId, journey.flowVersion);
    if (flow?.holdout && isHeldOut(flowHoldoutKey(journey.flowId), journey.contactId, flow.holdout.share)) {
      const message = await recordSkipped(
        db,
        key,
        null,
        `holdout: control group (${Math.round(flow.holdout.share * 100)} % of the flow's contacts)`,
      );
      return { status: 'skipped', messageId: message.id, reason: message.reason ?? 'skipped' };
    }
  }
  if (!secret)
    throw ApplicationFailure.nonRetryable(
      'WEBHOOK_SECRET is not set: webhook steps are signed with it',
      'ConfigurationError',
    );

  const contact = await getContact(db, journey.contactId);
  const { body } = await renderFields(step, renderContext({ contact, event: req.trigger, journey }));
  try {
    JSON.parse(body);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `webhook body of step ${step.id} is not JSON once rendered: ${(err as Error).message}`,
      'TemplateError',
    );
  }
  const owner = randomUUID();
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const message = await claimMessage(db, key, {
    recipient: step.url,
    provider: 'webhook',
    content: { body },
    owner,
    leaseMs,
    takeOver: settled.takeOver,
  });
  if (!message)
    throw ApplicationFailure.retryable(`webhook of step ${step.id} was claimed by another attempt`, 'MessageClaimed');
  await handOver(db, message, owner);
  const timestamp = Math.floor(Date.now() / 1000);
  let response: Response;
  try {
    response = await underClaim(db, message, owner, leaseMs, () =>
      fetch(step.url, {
        method: 'POST',
        headers: {
          ...step.headers,
          'content-type': 'application/json',
          'user-agent': 'Parcours-Webhook/1',
          // The first run's id: the same on every retry and after a journey reset.
          'x-parcours-delivery': `${message.journeyRunId}:${step.id}`,
          'x-parcours-signature': signWebhook(secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? Math.min(10_000, PROVIDER_TIMEOUT_MS)),
      }),
    );
  } catch (err) {
    // Transactional: settleFailure throws (retried, whether or not the receiver got it).
    await settleFailure(db, message, owner, ProviderError.fromNetwork('Webhook', err), {
      transactional: true,
      canLookup: false,
    });
    throw err;
  }
  if (response.ok) {
    await finishAttempt(db, message.id, {
      status: 'sent',
      providerMessageId: String(response.status),
      sentAt: new Date(Math.max(req.now, Date.now())),
      owner,
    });
    return { status: 'sent', messageId: message.id, httpStatus: response.status };
  }
  const error = ProviderError.fromStatus(
    'Webhook',
    response.status,
    (await response.text().catch(() => '')).slice(0, 300),
  );
  await settleFailure(db, message, owner, error, { transactional: true, canLookup: false });
  throw error; // (settleFailure has thrown already: retryable or ProviderRejected)
}
