/**
 * The send pipeline shared by email and SMS steps: idempotency, flow-filter guard, address
 * and suppression checks, template rendering, one provider call, and a message row that
 * tells support what happened.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { getContact } from '../db/contacts';
import { beginAttempt, findMessage, finishAttempt, isSuppressed, recordSkipped, type Channel, type MessageKey } from '../db/messages';
import type { Queryable } from '../db/pool';
import type { EventCondition, StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import type { JourneyEvent } from '../workflows/messages';
import { findExitEvent, type ExitMatch } from './exit-guard';
import { ProviderError, type Provider } from './providers/types';

export interface JourneyRef {
  runId: string;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  /** The trigger event's timestamp: flow filters count events from here on. */
  startedAt: string;
}

export interface SendRequest<S> {
  journey: JourneyRef;
  step: S;
  trigger: JourneyEvent;
  exitWhen: EventCondition[];
}

export type SendOutcome =
  | { status: 'sent'; messageId: string; provider: string; providerMessageId: string }
  | { status: 'skipped'; messageId: string; reason: string }
  | ({ status: 'exited' } & ExitMatch);

type SendStep = StepOf<'email'> | StepOf<'sms'>;

export interface ChannelSender<S extends SendStep, M> {
  channel: Channel;
  provider: Provider<M>;
  /** The contact's address on this channel. */
  addressOf(contact: { email: string | null; phone: string | null }): string | null;
  /** The provider message from the rendered template fields. */
  compose(rendered: Record<string, string>, to: string, step: S, ids: Record<string, string>): M;
}

export async function sendMessage<S extends SendStep, M>(db: Queryable, sender: ChannelSender<S, M>, req: SendRequest<S>): Promise<SendOutcome> {
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

  const exit = await findExitEvent(db, journey.contactId, req.exitWhen, journey.startedAt);
  if (exit) return { status: 'exited', ...exit };

  const contact = await getContact(db, journey.contactId);
  const to = contact ? sender.addressOf(contact) : null;
  if (!to) return skipped(await recordSkipped(db, key, null, `contact has no ${sender.channel === 'email' ? 'email address' : 'phone number'}`));
  if (await isSuppressed(db, sender.channel, to)) return skipped(await recordSkipped(db, key, to, 'address is suppressed'));

  let rendered: Record<string, string>;
  try {
    rendered = await renderFields(step, {
      contact: { ...contact!.traits, id: contact!.id, email: contact!.email, phone: contact!.phone },
      event: { name: req.trigger.name, properties: req.trigger.properties, timestamp: req.trigger.timestamp },
    });
  } catch (err) {
    await recordSkipped(db, key, to, `template error: ${(err as Error).message}`);
    throw ApplicationFailure.nonRetryable(`template error in step ${step.id}: ${(err as Error).message}`, 'TemplateError');
  }

  const message = await beginAttempt(db, key, { recipient: to, provider: sender.provider.name, content: rendered });
  const ids = { parcours_message_id: message.id, parcours_flow_id: journey.flowId, parcours_step_id: step.id };
  try {
    const { providerMessageId } = await sender.provider.send(sender.compose(rendered, to, step, ids));
    await finishAttempt(db, message.id, { status: 'sent', providerMessageId });
    return { status: 'sent', messageId: message.id, provider: sender.provider.name, providerMessageId };
  } catch (err) {
    if (!(err instanceof ProviderError)) throw err;
    await finishAttempt(db, message.id, { status: err.retryable ? 'retrying' : 'failed', reason: err.message });
    if (err.retryable) throw err; // Temporal retries with backoff
    throw ApplicationFailure.nonRetryable(err.message, 'ProviderRejected', { messageId: message.id, status: err.status });
  }
}

function skipped(message: { id: string; reason: string | null }): SendOutcome {
  return { status: 'skipped', messageId: message.id, reason: message.reason ?? 'skipped' };
}
