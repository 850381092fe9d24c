/**
 * Sends that never repeat, for journeys' messages and webhooks, double opt-in confirmations and
 * (page by page, db/campaigns.ts) campaigns: one claim protocol in two phases. An attempt claims
 * the message (a lease), then hands it to the provider in one statement right before the call
 * (handToProvider: only while it still holds the claim within its lease, so an attempt that
 * stalled and lost its claim never calls the provider), and records the outcome only as the
 * claim's owner. An attempt that finds a dead attempt's claim settles it first: a claim never
 * handed went nowhere and is claimed again; a handed one follows the rule below.
 *
 * The rule for an outcome we cannot know (the worker died between the provider's answer and our
 * record, or the call timed out after the request was written):
 * - where the provider can be asked (Twilio lists messages by recipient and date), ask it: found
 *   means sent, not found means it never arrived and the message is sent;
 * - otherwise a marketing message is recorded "unknown" and never sent again automatically;
 * - a transactional message (and a webhook) is sent again: at least once.
 */
import { ApplicationFailure, asyncLocalStorage } from '@temporalio/activity';
import {
  expireLease,
  finishAttempt,
  getMessage,
  handToProvider,
  leaseLive,
  renewLease,
  type MessageKey,
  type MessageRecord,
} from '../db/messages';
import type { Queryable } from '../db/pool';
import type { JourneyRef } from './guard';
import type { Provider, ProviderError } from './providers/types';

/** How long a claim lasts without renewal; renewed while the provider call runs. */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * What a step's message is known by: the workflow id (a reset or continue-as-new keeps it),
 * the trigger event (a new entry into the flow has another) and the step (the flow graph has no
 * loops, so a step runs at most once per journey).
 */
export function sendKeyOf(journey: JourneyRef, triggerId: number, stepId: string): string {
  return `${journey.workflowId}|${triggerId}|${stepId}`;
}

/** The message row of one step of one journey entry (a reset or continue-as-new finds the same). */
export function messageKeyOf(
  journey: JourneyRef,
  triggerId: number,
  stepId: string,
  channel: MessageKey['channel'],
  transactional: boolean,
  priority: number,
): MessageKey {
  return {
    source: channel === 'webhook' ? 'webhook' : 'flow',
    priority,
    sendKey: sendKeyOf(journey, triggerId, stepId),
    journeyRunId: journey.runId,
    flowId: journey.flowId,
    flowVersion: journey.flowVersion,
    stepId,
    contactId: journey.contactId,
    channel,
    transactional,
  };
}

export type Settled =
  /** An attempt got the provider's acceptance: return it. */
  | { kind: 'sent'; message: MessageRecord }
  /** Marketing message whose outcome is unknown: never sent again automatically. */
  | { kind: 'unknown'; message: MessageRecord }
  /** Go on and claim; `takeOver`: the row is a dead attempt's claim, settled as "send again". */
  | { kind: 'open'; takeOver: boolean };

/** Reads what earlier attempts (of this run or of a run before a reset) left, and settles a dead claim. */
export async function settlePrevious(
  db: Queryable,
  previous: MessageRecord | undefined,
  opts: { transactional: boolean; provider?: Pick<Provider<unknown>, 'lookup'> },
): Promise<Settled> {
  if (!previous) return { kind: 'open', takeOver: false };
  if (previous.status === 'sent') return { kind: 'sent', message: previous };
  if (previous.status === 'unknown') return { kind: 'unknown', message: previous };
  if (previous.status !== 'sending') return { kind: 'open', takeOver: false };
  if (previous.leaseUntil && (await leaseLive(db, previous.id))) {
    // Retryable: Temporal tries again with backoff, by then the other attempt has recorded its outcome or died.
    throw ApplicationFailure.retryable(
      `message ${previous.id} is being sent by another attempt (claimed until ${previous.leaseUntil})`,
      'MessageClaimed',
    );
  }

  // Never handed to the provider (the claim's second phase): it went nowhere, send it.
  if (!previous.handedAt) return { kind: 'open', takeOver: true };

  const since = new Date(previous.updatedAt);
  const lookup = opts.provider?.lookup;
  if (lookup && previous.recipient && previous.content) {
    // Throws (retryable) when the provider cannot be asked now: asked again on the next attempt.
    const found = await lookup({ to: previous.recipient, content: previous.content, since });
    if (found) {
      await finishAttempt(db, previous.id, {
        status: 'sent',
        providerMessageId: found.providerMessageId,
        sentAt: since,
      });
      return { kind: 'sent', message: { ...previous, status: 'sent', providerMessageId: found.providerMessageId } };
    }
    return { kind: 'open', takeOver: true };
  }
  if (opts.transactional) return { kind: 'open', takeOver: true };
  const reason =
    `outcome unknown: the attempt of ${previous.updatedAt} ended without recording the provider's answer ` +
    `(${previous.reason ?? 'the worker stopped'}); marketing messages are not sent again`;
  await finishAttempt(db, previous.id, { status: 'unknown', reason });
  // Re-read: the dead attempt may have come back and recorded "sent" meanwhile.
  const now = (await getMessage(db, previous.id)) ?? { ...previous, status: 'unknown', reason };
  return now.status === 'sent' ? { kind: 'sent', message: now } : { kind: 'unknown', message: now };
}

/**
 * The claim's second phase: this attempt may call the provider only if it still holds the claim
 * within its lease. Otherwise it stalled past its lease and the message may be another attempt's
 * now: retryable, and the next attempt reads what that one did.
 */
export async function handOver(db: Queryable, message: MessageRecord, owner: string): Promise<void> {
  if ((await handToProvider(db, owner, [message.id])).has(message.id)) return;
  throw ApplicationFailure.retryable(
    `message ${message.id}: this attempt lost its claim before calling the provider (it outlived its lease)`,
    'MessageClaimLost',
  );
}

/**
 * Runs the provider call under the claim: heartbeats (the activity's heartbeatTimeout notices a
 * hung worker long before startToCloseTimeout) and renews the lease, so a long call (push to many
 * subscriptions) is never taken for a dead one.
 */
export async function underClaim<T>(
  db: Queryable,
  message: MessageRecord,
  owner: string,
  leaseMs: number,
  call: () => Promise<T>,
): Promise<T> {
  const context = asyncLocalStorage.getStore(); // undefined outside an activity (direct calls in tests)
  const tick = setInterval(
    () => {
      context?.heartbeat();
      renewLease(db, message.id, owner, leaseMs).catch(() => undefined); // a failed renewal only shortens the claim
    },
    Math.max(200, Math.min(5_000, Math.floor(leaseMs / 3))),
  );
  try {
    context?.heartbeat();
    return await call();
  } finally {
    clearInterval(tick);
  }
}

/**
 * After a provider call failed: an ambiguous failure follows the rule above; a certain one keeps
 * the retry (429, 5xx, nothing sent) or rejection (4xx) behaviour. Returns the message when it is
 * now "unknown"; throws otherwise.
 */
export async function settleFailure(
  db: Queryable,
  message: MessageRecord,
  owner: string,
  err: ProviderError,
  opts: { transactional: boolean; canLookup: boolean },
): Promise<MessageRecord> {
  if (err.ambiguous) {
    if (opts.canLookup) {
      // The next attempt asks the provider before anything else.
      await expireLease(db, message.id, owner, err.message);
      throw err;
    }
    if (!opts.transactional) {
      const reason = `outcome unknown (${err.message}); marketing messages are not sent again`;
      await finishAttempt(db, message.id, { status: 'unknown', reason, owner });
      return { ...message, status: 'unknown', reason };
    }
    await finishAttempt(db, message.id, {
      status: 'retrying',
      reason: `outcome unknown (${err.message}); transactional: sent again`,
      owner,
    });
    throw err;
  }
  await finishAttempt(db, message.id, { status: err.retryable ? 'retrying' : 'failed', reason: err.message, owner });
  if (err.retryable) throw err; // Temporal retries with backoff
  throw ApplicationFailure.nonRetryable(err.message, 'ProviderRejected', { messageId: message.id, status: err.status });
}
