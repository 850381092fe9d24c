/**
 * The sending policy, for every message Parcours sends (journey steps, campaigns): from what is
 * known about one contact (facts, read by db/send-facts.ts) and the sender's rules, whether the
 * message goes out now, is skipped (and why, in words support reads), or waits until a moment.
 *
 * Pure: no I/O, no clock. The caller reads the facts and decides under the contact's send lock
 * (db/send-facts.ts lockContactSends), then claims the message in the same transaction, so two
 * senders to one contact never both pass the cap or smart sending.
 *
 * Order of the rules: address, suppression, consent (skips); quiet hours (defers); smart sending
 * (skips); the frequency cap (skips, or defers with `whenCapped: "wait"`). A transactional
 * message is only refused by a missing address or a suppression of scope "all" (the loader reads
 * suppressions with the message's scope).
 */
import { marketingRefusal, type ConsentEmailPolicy, type ConsentStatus } from '../audiences/consent-policy';
import { quietUntil } from './quiet-hours';
import type { QuietWindow, WhenCapped } from '../flows/schema';

export type PolicyChannel = 'email' | 'sms' | 'push';

/** The rolling window of the frequency cap. */
export const CAP_WINDOW_MS = 86_400_000;

/** A marketing message counted by the cap or smart sending: sent, or being sent (a live claim). */
export interface RecentMessage {
  channel: string;
  /** ms; a claim still being sent counts as sent at the moment of the decision. */
  at: number;
}

export interface SendFacts {
  /** Where the contact gets this channel (email, phone, "web push (2 subscriptions)"), or null. */
  to: string | null;
  /** The address is suppressed for this message (marketing: any scope; transactional: scope "all"). */
  suppressed: boolean;
  consent: ConsentStatus;
  /** The contact's IANA zone, for quiet hours. */
  zone: string;
  /** The latest marketing message on the channel of this priority or higher (ms), sent or being sent. */
  lastSentAt: number | null;
  /** Marketing messages of this priority or higher within the cap window, all channels, newest first. */
  recent: RecentMessage[];
}

export interface FrequencyCaps {
  /** Marketing messages per contact per 24 h, all channels together; 0: no cap. */
  allChannels: number;
  /** Per channel; 0 or absent: no cap on that channel. */
  perChannel: Partial<Record<PolicyChannel, number>>;
}

export interface SendRules {
  channel: PolicyChannel;
  transactional: boolean;
  /** Decision time, ms (the workflow's clock). */
  now: number;
  consentEmail: ConsentEmailPolicy;
  requireSubscribed: boolean;
  quietHours: QuietWindow | null;
  /** Skip when a marketing message on the channel went out within this many hours; null or 0: off. */
  smartSendingHours: number | null;
  caps: FrequencyCaps;
  whenCapped: WhenCapped;
}

export type Decision =
  | { kind: 'send'; to: string }
  | { kind: 'skip'; to: string | null; reason: string }
  | { kind: 'defer'; until: number; reason: string };

const ADDRESS: Record<PolicyChannel, string> = {
  email: 'email address',
  sms: 'phone number',
  push: 'push subscription',
};

export function decide(facts: SendFacts, rules: SendRules): Decision {
  const { channel, now } = rules;
  const to = facts.to;
  if (!to) return { kind: 'skip', to: null, reason: `contact has no ${ADDRESS[channel]}` };
  if (facts.suppressed) return { kind: 'skip', to, reason: 'address is suppressed' };
  if (rules.transactional) return { kind: 'send', to };

  const refusal = marketingRefusal(channel, facts.consent, {
    emailPolicy: rules.consentEmail,
    requireSubscribed: rules.requireSubscribed,
  });
  if (refusal) return { kind: 'skip', to, reason: refusal };

  if (rules.quietHours) {
    const until = quietUntil(now, rules.quietHours, facts.zone);
    if (until !== undefined)
      return {
        kind: 'defer',
        until,
        reason: `quiet hours ${rules.quietHours.from}-${rules.quietHours.to} (${facts.zone})`,
      };
  }

  const hours = rules.smartSendingHours ?? 0;
  const last = facts.lastSentAt;
  if (hours > 0 && last !== null && last > now - hours * 3_600_000 && last <= now) {
    const hoursAgo = ((now - last) / 3_600_000).toFixed(1);
    return {
      kind: 'skip',
      to,
      reason: `smart sending: a marketing ${channel} went out ${hoursAgo} h ago (window ${hours} h)`,
    };
  }

  const capped = capRefusalOf(facts.recent, channel, now, rules.caps);
  if (capped && rules.whenCapped === 'wait') return { kind: 'defer', until: capped.until, reason: capped.reason };
  if (capped) return { kind: 'skip', to, reason: capped.reason };
  return { kind: 'send', to };
}

export interface CapRefusal {
  reason: string;
  /** When the cap allows the message (ms): the counted message that must leave the window has left it. */
  until: number;
}

/** Why the cap refuses one more marketing message on `channel` at `now`, or undefined. */
export function capRefusalOf(
  recent: RecentMessage[],
  channel: PolicyChannel,
  now: number,
  caps: FrequencyCaps,
): CapRefusal | undefined {
  const channelCap = caps.perChannel[channel] ?? 0;
  if (caps.allChannels <= 0 && channelCap <= 0) return undefined;
  const inWindow = recent
    .filter((m) => m.channel !== 'webhook' && m.at > now - CAP_WINDOW_MS && m.at <= now)
    .sort((a, b) => b.at - a.at);
  const refusals = [
    overCap(
      inWindow.map((m) => m.at),
      caps.allChannels,
      (n) => `frequency cap: ${n} marketing messages in the last 24 h (cap ${caps.allChannels})`,
    ),
    overCap(
      inWindow.filter((m) => m.channel === channel).map((m) => m.at),
      channelCap,
      (n) =>
        `frequency cap: ${n} marketing ${channel} message${n === 1 ? '' : 's'} in the last 24 h ` +
        `(${channel} cap ${channelCap})`,
    ),
  ].filter((r): r is CapRefusal => r !== undefined);
  // Both caps reached: the message waits for the later of the two.
  return refusals.sort((a, b) => b.until - a.until)[0];
}

/** `sentAt` newest first: the cap-th newest must leave the window before one more may go. */
function overCap(sentAt: number[], cap: number, reason: (n: number) => string): CapRefusal | undefined {
  if (cap <= 0 || sentAt.length < cap) return undefined;
  return { reason: reason(sentAt.length), until: sentAt[cap - 1] + CAP_WINDOW_MS };
}
