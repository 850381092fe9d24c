/**
 * The send pipeline shared by email, SMS and push steps: idempotency, the journey guard
 * (flow filters, goal, paused flow), the holdout group, address and suppression, consent, quiet
 * hours, smart sending and the frequency cap (with priorities), template rendering, one provider
 * call, and a message row that tells support what happened.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { ConsentEmailPolicy } from '../audiences/consent-policy';
import { flowCapSettings } from '../audiences/frequency-cap';
import { flowHoldoutKey, isHeldOut } from '../audiences/holdout';
import { getContact, type Contact } from '../db/contacts';
import { getFlowVersion } from '../db/flows';
import {
  claimMessage,
  findStepMessage,
  finishAttempt,
  recordSkipped,
  releaseClaim,
  type MessageKey,
  type MessageRecord,
} from '../db/messages';
import { inTransaction, type Db, type Queryable } from '../db/pool';
import { addressOf, loadSendFacts, lockContactSends } from '../db/send-facts';
import type { QuietWindow, StepOf } from '../flows/schema';
import { renderFields } from '../flows/templates';
import { CAP_WINDOW_MS, decide, type Decision, type FrequencyCaps } from '../sending/policy';
import { sends, sendSkips, skipCategory, timeProviderCall } from '../metrics/registry';
import { renderContext } from '../sending/render-context';
import { zoneOf } from './clock';
import { checkGuard, type GuardRequest, type GuardStop } from './guard';
import { ProviderError, type Provider, type SendResult } from './providers/types';
import { DEFAULT_LEASE_MS, handOver, messageKeyOf, settleFailure, settlePrevious, underClaim } from './send-claim';

export type { JourneyRef } from './guard';
export { UNSUBSCRIBE_PLACEHOLDER } from '../sending/render-context';

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

/** What the decision under the contact's lock came to. */
type Claimed =
  | { kind: 'claimed'; message: MessageRecord; rendered: Record<string, string>; to: string }
  | { kind: 'skipped'; message: MessageRecord }
  | { kind: 'deferred'; until: number; reason: string }
  | { kind: 'template-error'; to: string; error: Error }
  | { kind: 'taken' };

export async function sendMessage<S extends SendStep, M>(
  db: Db,
  sender: ChannelSender<S, M>,
  policy: SendPolicy,
  req: SendRequest<S>,
): Promise<SendOutcome> {
  const outcome = await decideAndSend(db, sender, policy, req);
  countOutcome(sender, outcome);
  return outcome;
}

/**
 * This attempt's outcome in the metrics. An earlier attempt's answer read again (a retry after a lost completion) is
 * counted again: rare, and a metric need not be exact. Provider failures are counted where they happen (deliver).
 */
function countOutcome(sender: { channel: string; provider: { name: string } }, outcome: SendOutcome): void {
  const labels = { channel: sender.channel, provider: sender.provider.name };
  if (outcome.status === 'sent') sends.inc({ ...labels, outcome: 'sent' });
  else if (outcome.status === 'deferred') sends.inc({ ...labels, outcome: 'deferred' });
  else if (outcome.status === 'skipped' && 'unknown' in outcome) sends.inc({ ...labels, outcome: 'unknown' });
  else if (outcome.status === 'skipped') {
    sends.inc({ ...labels, outcome: 'skipped' });
    sendSkips.inc({ channel: sender.channel, reason: skipCategory(outcome.reason) });
  }
}

async function decideAndSend<S extends SendStep, M>(
  db: Db,
  sender: ChannelSender<S, M>,
  policy: SendPolicy,
  req: SendRequest<S>,
): Promise<SendOutcome> {
  const { journey, step } = req;

  // The flow version the journey runs, as stored (consent, holdout, priority): read here rather
  // than carried in the workflow's input, so the journey workflow did not change for them.
  const flow = step.transactional ? undefined : await getFlowVersion(db, journey.flowId, journey.flowVersion);
  const { priority, whenCapped } = flowCapSettings(flow);
  const key = messageKeyOf(journey, req.trigger.id, step.id, sender.channel, step.transactional, priority);

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

  const now = Math.max(req.now, Date.now());
  const countsOtherSends =
    policy.frequencyCapPerDay > 0 || Object.values(policy.frequencyCapPerChannel ?? {}).some((n) => n > 0);
  const owner = randomUUID();
  const leaseMs = policy.leaseMs ?? DEFAULT_LEASE_MS;
  // Facts, decision and claim under the contact's send lock: a second sender to this contact
  // (another journey, a campaign page) decides after this claim and counts it.
  const decided = await inTransaction(db, async (tx): Promise<Claimed> => {
    // Only a decision that counts other sends (the cap, smart sending) needs them serialised.
    if (!step.transactional && (countsOtherSends || req.rules.smartSendingHours))
      await lockContactSends(tx, [journey.contactId]);
    const facts = (
      await loadSendFacts(tx, [journey.contactId], {
        channel: sender.channel,
        priority,
        now,
        transactional: step.transactional,
        capWindowMs: CAP_WINDOW_MS,
      })
    ).get(journey.contactId);
    const decision: Decision = decide(
      {
        to: facts ? addressOf(facts, sender.channel) : null,
        suppressed: facts?.suppressed ?? false,
        consent: facts?.consent ?? 'never_asked',
        zone: zoneOf(facts?.traits ?? {}),
        lastSentAt: facts?.lastSentAt ?? null,
        recent: facts?.recent ?? [],
      },
      {
        channel: sender.channel,
        transactional: step.transactional,
        now,
        consentEmail: policy.consentEmail ?? 'opt_out',
        requireSubscribed: flow?.requireSubscribed === true,
        quietHours: req.rules.quietHours,
        smartSendingHours: req.rules.smartSendingHours,
        caps: { allChannels: policy.frequencyCapPerDay, perChannel: policy.frequencyCapPerChannel ?? {} },
        whenCapped,
      },
    );
    if (decision.kind === 'defer') return { kind: 'deferred', until: decision.until, reason: decision.reason };
    if (decision.kind === 'skip')
      return { kind: 'skipped', message: await recordSkipped(tx, key, decision.to, decision.reason) };
    let rendered: Record<string, string>;
    try {
      rendered = await renderFields(
        step,
        renderContext({
          contact,
          event: req.trigger,
          journey,
          // Replaced by the message's own signed link once the message has an id.
          unsubscribe: true,
        }),
      );
    } catch (err) {
      return { kind: 'template-error', to: decision.to, error: err as Error };
    }
    const message = await claimMessage(tx, key, {
      recipient: decision.to,
      provider: sender.provider.name,
      content: rendered,
      owner,
      leaseMs,
      takeOver: settled.takeOver,
    });
    return message ? { kind: 'claimed', message, rendered, to: decision.to } : { kind: 'taken' };
  }).catch(async (err: unknown) => {
    // The commit may have succeeded with its answer lost (a Postgres blip): the provider was not
    // called, so free the claim if the database is back, or its expiry will be taken for a dead send.
    await releaseClaim(db, key.sendKey, owner).catch(() => undefined);
    throw err;
  });

  if (decided.kind === 'deferred')
    return { status: 'deferred', until: new Date(decided.until).toISOString(), reason: decided.reason };
  if (decided.kind === 'skipped') return skipped(decided.message);
  if (decided.kind === 'template-error') {
    const { error } = decided;
    await recordSkipped(db, key, decided.to, `template error: ${error.message}`);
    sendSkips.inc({ channel: sender.channel, reason: 'template_error' });
    sends.inc({ channel: sender.channel, provider: sender.provider.name, outcome: 'skipped' });
    throw ApplicationFailure.nonRetryable(`template error in step ${step.id}: ${error.message}`, 'TemplateError');
  }
  if (decided.kind === 'taken') {
    // Another attempt claimed (or finished) it since we looked: the next attempt reads its outcome.
    throw ApplicationFailure.retryable(`message of step ${step.id} was claimed by another attempt`, 'MessageClaimed');
  }
  return deliver(db, sender, req, { ...decided, owner, leaseMs, now, contact: contact!, key });
}

/** The claimed message to the provider: handed over (if this attempt still holds it), sent, recorded. */
async function deliver<S extends SendStep, M>(
  db: Db,
  sender: ChannelSender<S, M>,
  req: SendRequest<S>,
  claim: {
    message: MessageRecord;
    rendered: Record<string, string>;
    to: string;
    owner: string;
    leaseMs: number;
    now: number;
    contact: Contact;
    key: MessageKey;
  },
): Promise<SendOutcome> {
  const { journey, step } = req;
  const { message, owner, leaseMs } = claim;
  const ids = { parcours_message_id: message.id, parcours_flow_id: journey.flowId, parcours_step_id: step.id };
  let outgoing: M;
  try {
    outgoing = await sender.compose(db, claim.rendered, claim.to, step, ids, claim.contact, req.rules);
  } catch (err) {
    // Nothing reached the provider: free the claim for the retry.
    await finishAttempt(db, message.id, {
      status: 'retrying',
      reason: `before sending: ${(err as Error).message}`,
      owner,
    }).catch(() => undefined);
    throw err;
  }
  await handOver(db, message, owner);
  let result: SendResult;
  try {
    result = await underClaim(db, message, owner, leaseMs, () =>
      timeProviderCall(sender.channel, sender.provider.name, () => sender.provider.send(outgoing)),
    );
  } catch (err) {
    // Anything but a ProviderError (a bug, a crash of the client) leaves the claim to expire:
    // the next attempt then treats the outcome as unknown.
    if (!(err instanceof ProviderError)) throw err;
    if (err.partial) await sender.afterSend?.(db, err.partial);
    // Settled as "unknown" (counted as such by countOutcome), or thrown: this attempt failed.
    const settled = await settleFailure(db, message, owner, err, {
      transactional: step.transactional,
      canLookup: Boolean(sender.provider.lookup),
    }).catch((failure: unknown) => {
      sends.inc({ channel: sender.channel, provider: sender.provider.name, outcome: 'failed' });
      throw failure;
    });
    return unknownOutcome(settled);
  }
  // From here on the provider has the message: a failure to record it (Postgres down) leaves the
  // row "sending" and the claim expires; the next attempt settles it as an unknown outcome.
  await finishAttempt(db, message.id, {
    status: 'sent',
    providerMessageId: result.providerMessageId,
    sentAt: new Date(claim.now),
    owner,
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

function skipped(message: { id: string; reason: string | null }): SendOutcome {
  return { status: 'skipped', messageId: message.id, reason: message.reason ?? 'skipped' };
}
