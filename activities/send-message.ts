/**
 * The send pipeline shared by email, SMS and push steps: idempotency, the journey guard
 * (flow filters, goal, paused flow), the holdout group, address and suppression, consent, quiet
 * hours, smart sending and the frequency cap (with priorities), template rendering, one provider
 * call, and a message row that tells support what happened.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { marketingRefusal, type ConsentEmailPolicy } from '../audiences/consent-policy';
import { capRefusal, flowCapSettings, type FrequencyCaps } from '../audiences/frequency-cap';
import { flowHoldoutKey, isHeldOut } from '../audiences/holdout';
import { consentStatusOf } from '../db/consent';
import { getContact, type Contact } from '../db/contacts';
import { getFlowVersion } from '../db/flows';
import {
  claimMessage,
  findStepMessage,
  finishAttempt,
  isSuppressed,
  lastMarketingSentAt,
  recordSkipped,
  releaseClaim,
  type MessageRecord,
} from '../db/messages';
import type { Queryable } from '../db/pool';
import type { FlowDefinition, QuietWindow, StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import { quietUntil, zoneOf } from './clock';
import { profileOf } from './facts';
import { checkGuard, type GuardRequest, type GuardStop, type JourneyRef } from './guard';
import { ProviderError, type Provider, type SendResult } from './providers/types';
import { DEFAULT_LEASE_MS, messageKeyOf, settleFailure, settlePrevious, underClaim } from './send-claim';

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
  /**
   * Marketing message whose outcome is unknown (an attempt may have reached the provider): not
   * sent again. The workflow reads it as a skip (its status is "skipped" for journeys already
   * running); the message row says "unknown".
   */
  | { status: 'skipped'; messageId: string; reason: string; unknown: true }
  /** Quiet hours, or the frequency cap of a flow with `whenCapped: "wait"`: try again at `until` (ISO). */
  | { status: 'deferred'; until: string; reason: string }
  | GuardStop;

export interface ChannelSender<S extends SendStep, M> {
  channel: S['type'];
  provider: Provider<M>;
  /** Where this contact receives this channel, or null (the step is skipped). */
  recipient(db: Queryable, contact: Contact): Promise<string | null>;
  /** The provider message from the rendered template fields. */
  compose(
    db: Queryable,
    rendered: Record<string, string>,
    to: string,
    step: S,
    ids: Record<string, string>,
    contact: Contact,
    rules: SendRules,
  ): Promise<M>;
  /** Bookkeeping after an accepted send (push: forget subscriptions that are gone). */
  afterSend?(db: Queryable, result: SendResult): Promise<void>;
}

export interface SendPolicy {
  /** Marketing messages per contact per rolling 24 hours, all channels; 0: no cap. */
  frequencyCapPerDay: number;
  /** Per channel caps (audiences/frequency-cap.ts); each applies besides frequencyCapPerDay. */
  frequencyCapPerChannel?: FrequencyCaps['perChannel'];
  /** How long a claim on a message lasts unrenewed (default DEFAULT_LEASE_MS). */
  leaseMs?: number;
  /** CONSENT_EMAIL: who may get marketing email (default opt_out: anyone not unsubscribed). */
  consentEmail?: ConsentEmailPolicy;
}

/**
 * Consent for a marketing message (audiences/consent-policy.ts): the contact's status on the
 * channel, the email policy, and the `requireSubscribed` of the flow version the journey runs.
 */
async function consentRefusal(
  db: Queryable,
  journey: JourneyRef,
  channel: SendStep['type'],
  policy: SendPolicy,
  flow: FlowDefinition | undefined,
): Promise<string | undefined> {
  const status = await consentStatusOf(db, journey.contactId, channel);
  if (status === 'subscribed') return undefined;
  return marketingRefusal(channel, status, {
    emailPolicy: policy.consentEmail ?? 'opt_out',
    requireSubscribed: flow?.requireSubscribed === true,
  });
}

export async function sendMessage<S extends SendStep, M>(
  db: Queryable,
  sender: ChannelSender<S, M>,
  policy: SendPolicy,
  req: SendRequest<S>,
): Promise<SendOutcome> {
  const { journey, step } = req;
  const key = messageKeyOf(journey, req.trigger.id, step.id, sender.channel, step.transactional);

  // What earlier attempts left (this run's, or a run before a reset): a message that went out,
  // or may have, is never sent again; a live claim of another attempt makes this one wait.
  const settled = await settlePrevious(db, await findStepMessage(db, key), {
    transactional: step.transactional,
    provider: sender.provider,
  });
  if (settled.kind === 'sent') return sentOutcome(settled.message, sender.provider.name);
  if (settled.kind === 'unknown') return unknownOutcome(settled.message);

  const contact = await getContact(db, journey.contactId);
  const stop = await checkGuard(db, req, { holdWhenPaused: true, contact: contact ?? null });
  if (stop) return stop;

  // The flow version the journey runs, as stored (consent, holdout, priority): read here rather
  // than carried in the workflow's input, so the journey workflow did not change for them.
  const flow = step.transactional ? undefined : await getFlowVersion(db, journey.flowId, journey.flowVersion);
  // A control contact enters and is measured like the others but gets no marketing message.
  if (flow?.holdout && isHeldOut(flowHoldoutKey(journey.flowId), journey.contactId, flow.holdout.share)) {
    return skipped(
      await recordSkipped(
        db,
        key,
        null,
        `holdout: control group (${Math.round(flow.holdout.share * 100)} % of the flow's contacts)`,
      ),
    );
  }

  const to = contact ? await sender.recipient(db, contact) : null;
  if (!contact || !to) return skipped(await recordSkipped(db, key, null, `contact has no ${ADDRESS[sender.channel]}`));
  if (await isSuppressed(db, sender.channel, to, step.transactional))
    return skipped(await recordSkipped(db, key, to, 'address is suppressed'));
  if (!step.transactional) {
    const refusal = await consentRefusal(db, journey, sender.channel, policy, flow);
    if (refusal) return skipped(await recordSkipped(db, key, to, refusal));
  }

  const now = Math.max(req.now, Date.now());
  if (!step.transactional) {
    const held = await marketingRules(db, { ...req, now }, sender.channel, contact, policy, flow);
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
    throw ApplicationFailure.nonRetryable(
      `template error in step ${step.id}: ${(err as Error).message}`,
      'TemplateError',
    );
  }

  const owner = randomUUID();
  const leaseMs = policy.leaseMs ?? DEFAULT_LEASE_MS;
  const message = await claimMessage(db, key, {
    recipient: to,
    provider: sender.provider.name,
    content: rendered,
    owner,
    leaseMs,
    takeOver: settled.takeOver,
  }).catch(async (err: unknown) => {
    // The insert may have committed with its answer lost (a Postgres blip): the provider was not
    // called, so free the claim if the database is back, or its expiry will be taken for a dead send.
    await releaseClaim(db, key.sendKey, owner).catch(() => undefined);
    throw err;
  });
  if (!message) {
    // Another attempt claimed (or finished) it since we looked: the next attempt reads its outcome.
    throw ApplicationFailure.retryable(`message of step ${step.id} was claimed by another attempt`, 'MessageClaimed');
  }
  const ids = { parcours_message_id: message.id, parcours_flow_id: journey.flowId, parcours_step_id: step.id };
  let outgoing: M;
  try {
    outgoing = await sender.compose(db, rendered, to, step, ids, contact, req.rules);
  } catch (err) {
    // Nothing reached the provider: free the claim for the retry.
    await finishAttempt(db, message.id, {
      status: 'retrying',
      reason: `before sending: ${(err as Error).message}`,
    }).catch(() => undefined);
    throw err;
  }
  let result: SendResult;
  try {
    result = await underClaim(db, message, owner, leaseMs, () => sender.provider.send(outgoing));
  } catch (err) {
    // Anything but a ProviderError (a bug, a crash of the client) leaves the claim to expire:
    // the next attempt then treats the outcome as unknown.
    if (!(err instanceof ProviderError)) throw err;
    if (err.partial) await sender.afterSend?.(db, err.partial);
    return unknownOutcome(
      await settleFailure(db, message, owner, err, {
        transactional: step.transactional,
        canLookup: Boolean(sender.provider.lookup),
      }),
    );
  }
  // From here on the provider has the message: a failure to record it (Postgres down) leaves the
  // row "sending" and the claim expires; the next attempt settles it as an unknown outcome.
  await finishAttempt(db, message.id, {
    status: 'sent',
    providerMessageId: result.providerMessageId,
    sentAt: new Date(now),
  });
  await sender.afterSend?.(db, result);
  return {
    status: 'sent',
    messageId: message.id,
    provider: sender.provider.name,
    providerMessageId: result.providerMessageId,
  };
}

function sentOutcome(message: MessageRecord, fallbackProvider: string): SendOutcome {
  return {
    status: 'sent',
    messageId: message.id,
    provider: message.provider ?? fallbackProvider,
    providerMessageId: message.providerMessageId ?? '',
  };
}

function unknownOutcome(message: MessageRecord): SendOutcome {
  return {
    status: 'skipped',
    messageId: message.id,
    reason: message.reason ?? 'outcome unknown: not sent again',
    unknown: true,
  };
}

/** What `{{ unsubscribe_url }}` renders to until the message id (and so its link) exists. */
export const UNSUBSCRIBE_PLACEHOLDER = 'https://unsubscribe.parcours.invalid/';

const ADDRESS: Record<SendStep['type'], string> = {
  email: 'email address',
  sms: 'phone number',
  push: 'push subscription',
};

export function journeyData(journey: JourneyRef): Record<string, unknown> {
  return {
    flowId: journey.flowId,
    flowVersion: journey.flowVersion,
    runId: journey.runId,
    workflowId: journey.workflowId,
    startedAt: journey.startedAt,
  };
}

/**
 * Quiet hours defer; smart sending skips; the frequency cap skips, or defers when the flow says
 * `whenCapped: "wait"`. Transactional messages never get here.
 */
async function marketingRules(
  db: Queryable,
  req: SendRequest<SendStep> & { now: number },
  channel: SendStep['type'],
  contact: Contact,
  policy: SendPolicy,
  flow: FlowDefinition | undefined,
): Promise<{ status: 'deferred'; until: string; reason: string } | { status: 'skip'; reason: string } | undefined> {
  if (req.rules.quietHours) {
    const zone = zoneOf(contact.traits);
    const until = quietUntil(req.now, req.rules.quietHours, zone);
    if (until !== undefined) {
      return {
        status: 'deferred',
        until: new Date(until).toISOString(),
        reason: `quiet hours ${req.rules.quietHours.from}-${req.rules.quietHours.to} (${zone})`,
      };
    }
  }
  const { priority, whenCapped } = flowCapSettings(flow);
  if (req.rules.smartSendingHours) {
    // Like the cap: only messages of this flow's priority or higher count.
    const last = await lastMarketingSentAt(db, contact.id, channel, priority);
    if (last !== undefined && last > req.now - req.rules.smartSendingHours * 3_600_000 && last <= req.now) {
      const hoursAgo = ((req.now - last) / 3_600_000).toFixed(1);
      return {
        status: 'skip',
        reason: `smart sending: a marketing ${channel} went out ${hoursAgo} h ago (window ${req.rules.smartSendingHours} h)`,
      };
    }
  }
  const caps: FrequencyCaps = {
    allChannels: policy.frequencyCapPerDay,
    perChannel: policy.frequencyCapPerChannel ?? {},
  };
  const capped = await capRefusal(db, contact.id, channel, priority, req.now, caps);
  if (capped && whenCapped === 'wait')
    return { status: 'deferred', until: new Date(capped.until).toISOString(), reason: capped.reason };
  if (capped) return { status: 'skip', reason: capped.reason };
  return undefined;
}

function skipped(message: { id: string; reason: string | null }): SendOutcome {
  return { status: 'skipped', messageId: message.id, reason: message.reason ?? 'skipped' };
}
