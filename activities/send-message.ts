/**
 * The send pipeline shared by email, SMS and push steps: idempotency, the journey guard
 * (flow filters, goal, paused flow), address and suppression, quiet hours, smart sending and
 * the frequency cap, template rendering, one provider call, and a message row that tells
 * support what happened.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { getContact, type Contact } from '../db/contacts';
import {
  beginAttempt,
  countMarketingSentSince,
  findMessage,
  finishAttempt,
  isSuppressed,
  lastMarketingSentAt,
  recordSkipped,
  type MessageKey,
} from '../db/messages';
import type { Queryable } from '../db/pool';
import type { QuietWindow, StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import { quietUntil, zoneOf } from './clock';
import { profileOf } from './facts';
import { checkGuard, type GuardRequest, type GuardStop, type JourneyRef } from './guard';
import { ProviderError, type Provider, type SendResult } from './providers/types';

export type { JourneyRef } from './guard';

export type SendStep = StepOf<'email'> | StepOf<'sms'> | StepOf<'push'>;

/** Flow settings that decide whether a marketing message may go out now. */
export interface SendRules {
  quietHours: QuietWindow | null;
  /** Skip when the contact got a marketing message on this channel within this many hours; null: off. */
  smartSendingHours: number | null;
  /** Our own open pixel / click redirects (emails). */
  tracking?: { opens: boolean; clicks: boolean };
}

export interface SendRequest<S> extends GuardRequest {
  step: S;
  rules: SendRules;
}

export type SendOutcome =
  | { status: 'sent'; messageId: string; provider: string; providerMessageId: string }
  | { status: 'skipped'; messageId: string; reason: string }
  /** Quiet hours: try again at `until` (ISO). */
  | { status: 'deferred'; until: string; reason: string }
  | GuardStop;

export interface ChannelSender<S extends SendStep, M> {
  channel: S['type'];
  provider: Provider<M>;
  /** Where this contact receives this channel, or null (the step is skipped). */
  recipient(db: Queryable, contact: Contact): Promise<string | null>;
  /** The provider message from the rendered template fields. */
  compose(db: Queryable, rendered: Record<string, string>, to: string, step: S, ids: Record<string, string>, contact: Contact, rules: SendRules): Promise<M>;
  /** Bookkeeping after an accepted send (push: forget subscriptions that are gone). */
  afterSend?(db: Queryable, result: SendResult): Promise<void>;
}

export interface SendPolicy {
  /** Marketing messages per contact per rolling 24 hours, all channels; 0: no cap. */
  frequencyCapPerDay: number;
}

export async function sendMessage<S extends SendStep, M>(
  db: Queryable,
  sender: ChannelSender<S, M>,
  policy: SendPolicy,
  req: SendRequest<S>,
): Promise<SendOutcome> {
  const { journey, step } = req;
  const key: MessageKey = {
    journeyRunId: journey.runId,
    flowId: journey.flowId,
    flowVersion: journey.flowVersion,
    stepId: step.id,
    contactId: journey.contactId,
    channel: sender.channel,
    transactional: step.transactional,
  };

  // A retry after the provider accepted the message must not send it again.
  const previous = await findMessage(db, journey.runId, step.id);
  if (previous?.status === 'sent') {
    return { status: 'sent', messageId: previous.id, provider: previous.provider ?? sender.provider.name, providerMessageId: previous.providerMessageId ?? '' };
  }

  const contact = await getContact(db, journey.contactId);
  const stop = await checkGuard(db, req, { holdWhenPaused: true, contact: contact ?? null });
  if (stop) return stop;

  const to = contact ? await sender.recipient(db, contact) : null;
  if (!contact || !to) return skipped(await recordSkipped(db, key, null, `contact has no ${ADDRESS[sender.channel]}`));
  if (await isSuppressed(db, sender.channel, to, step.transactional)) return skipped(await recordSkipped(db, key, to, 'address is suppressed'));

  const now = Math.max(req.now, Date.now());
  if (!step.transactional) {
    const held = await marketingRules(db, { ...req, now }, sender.channel, contact, policy);
    if (held?.status === 'deferred') return held;
    if (held) return skipped(await recordSkipped(db, key, to, held.reason));
  }

  let rendered: Record<string, string>;
  try {
    rendered = await renderFields(step, {
      contact: profileOf(contact),
      event: { name: req.trigger.name, properties: req.trigger.properties, timestamp: req.trigger.timestamp },
      journey: journeyData(journey),
      // Replaced by the message's own signed link once the message has an id.
      unsubscribe_url: UNSUBSCRIBE_PLACEHOLDER,
    });
  } catch (err) {
    await recordSkipped(db, key, to, `template error: ${(err as Error).message}`);
    throw ApplicationFailure.nonRetryable(`template error in step ${step.id}: ${(err as Error).message}`, 'TemplateError');
  }

  const message = await beginAttempt(db, key, { recipient: to, provider: sender.provider.name, content: rendered });
  const ids = { parcours_message_id: message.id, parcours_flow_id: journey.flowId, parcours_step_id: step.id };
  try {
    const result = await sender.provider.send(await sender.compose(db, rendered, to, step, ids, contact, req.rules));
    const { providerMessageId } = result;
    await sender.afterSend?.(db, result);
    await finishAttempt(db, message.id, { status: 'sent', providerMessageId, sentAt: new Date(now) });
    return { status: 'sent', messageId: message.id, provider: sender.provider.name, providerMessageId };
  } catch (err) {
    if (!(err instanceof ProviderError)) throw err;
    if (err.partial) await sender.afterSend?.(db, err.partial);
    await finishAttempt(db, message.id, { status: err.retryable ? 'retrying' : 'failed', reason: err.message });
    if (err.retryable) throw err; // Temporal retries with backoff
    throw ApplicationFailure.nonRetryable(err.message, 'ProviderRejected', { messageId: message.id, status: err.status });
  }
}

/** What `{{ unsubscribe_url }}` renders to until the message id (and so its link) exists. */
export const UNSUBSCRIBE_PLACEHOLDER = 'https://unsubscribe.parcours.invalid/';

const ADDRESS: Record<SendStep['type'], string> = { email: 'email address', sms: 'phone number', push: 'push subscription' };

export function journeyData(journey: JourneyRef): Record<string, unknown> {
  return { flowId: journey.flowId, flowVersion: journey.flowVersion, runId: journey.runId, workflowId: journey.workflowId, startedAt: journey.startedAt };
}

/** Quiet hours defer; smart sending and the frequency cap skip. Transactional messages never get here. */
async function marketingRules(
  db: Queryable,
  req: SendRequest<SendStep> & { now: number },
  channel: SendStep['type'],
  contact: Contact,
  policy: SendPolicy,
): Promise<{ status: 'deferred'; until: string; reason: string } | { status: 'skip'; reason: string } | undefined> {
  if (req.rules.quietHours) {
    const zone = zoneOf(contact.traits);
    const until = quietUntil(req.now, req.rules.quietHours, zone);
    if (until !== undefined) {
      return { status: 'deferred', until: new Date(until).toISOString(), reason: `quiet hours ${req.rules.quietHours.from}-${req.rules.quietHours.to} (${zone})` };
    }
  }
  if (req.rules.smartSendingHours) {
    const last = await lastMarketingSentAt(db, contact.id, channel);
    if (last !== undefined && last > req.now - req.rules.smartSendingHours * 3_600_000 && last <= req.now) {
      const hoursAgo = ((req.now - last) / 3_600_000).toFixed(1);
      return { status: 'skip', reason: `smart sending: a marketing ${channel} went out ${hoursAgo} h ago (window ${req.rules.smartSendingHours} h)` };
    }
  }
  if (policy.frequencyCapPerDay > 0) {
    const sent = await countMarketingSentSince(db, contact.id, new Date(req.now - 86_400_000), new Date(req.now));
    if (sent >= policy.frequencyCapPerDay) return { status: 'skip', reason: `frequency cap: ${sent} marketing messages in the last 24 h (cap ${policy.frequencyCapPerDay})` };
  }
  return undefined;
}

function skipped(message: { id: string; reason: string | null }): SendOutcome {
  return { status: 'skipped', messageId: message.id, reason: message.reason ?? 'skipped' };
}
