/**
 * Who may get a marketing message on which channel (pure: no I/O). The rules, as the README
 * states them:
 * - SMS and push always need an opt-in: status `subscribed`.
 * - Email follows CONSENT_EMAIL: `opt_out` (default) sends to anyone not unsubscribed;
 *   `opt_in` only to subscribed contacts (EU rules for B2C marketing, e.g. the CNIL's).
 * - A flow (or campaign) with `requireSubscribed: true` needs `subscribed` on every channel.
 * - Transactional messages are not marketing: consent does not apply to them.
 */
import { z } from 'zod';
import { EVENTS } from '../flows/event-names';

export const CONSENT_CHANNELS = ['email', 'sms', 'push'] as const;
export const consentChannel = z.enum(CONSENT_CHANNELS);
export type ConsentChannel = z.infer<typeof consentChannel>;

export const CONSENT_STATUSES = ['subscribed', 'unsubscribed', 'pending', 'never_asked'] as const;
export const consentStatus = z.enum(CONSENT_STATUSES);
export type ConsentStatus = z.infer<typeof consentStatus>;

export const consentEmailPolicy = z.enum(['opt_out', 'opt_in']);
export type ConsentEmailPolicy = z.infer<typeof consentEmailPolicy>;

/** The stored event every consent change becomes (flows trigger on it). */
export const CONSENT_CHANGED_EVENT = EVENTS.consentChanged;

/**
 * CONSENT_EMAIL's value to the policy: unset or empty is the default `opt_out`; anything but
 * the two names is an error naming the variable (the environment check stops the process with it).
 */
export function emailPolicyFrom(value: string | undefined): ConsentEmailPolicy {
  const v = value?.trim().toLowerCase();
  if (!v) return 'opt_out';
  const parsed = consentEmailPolicy.safeParse(v);
  if (!parsed.success) throw new Error(`CONSENT_EMAIL must be "opt_out" or "opt_in", not "${value}"`);
  return parsed.data;
}

export interface MarketingConsentRules {
  emailPolicy: ConsentEmailPolicy;
  /** The flow's `requireSubscribed`. */
  requireSubscribed: boolean;
}

const CHANNEL_NAME: Record<ConsentChannel, string> = { email: 'email', sms: 'SMS', push: 'push' };

/**
 * Undefined when a marketing message may go out; otherwise why not, in words support reads on
 * the skipped message ("no SMS consent (never_asked)").
 */
export function marketingRefusal(
  channel: ConsentChannel,
  status: ConsentStatus,
  rules: MarketingConsentRules,
): string | undefined {
  if (status === 'subscribed') return undefined;
  const name = CHANNEL_NAME[channel];
  if (status === 'unsubscribed') return `no ${name} consent (unsubscribed)`;
  if (rules.requireSubscribed) return `no ${name} consent (${status}; the flow requires subscribed contacts)`;
  if (channel === 'email' && rules.emailPolicy === 'opt_out') return undefined;
  const why = channel === 'email' ? 'CONSENT_EMAIL=opt_in requires subscribed' : `${name} requires an opt-in`;
  return `no ${name} consent (${status}; ${why})`;
}

/**
 * Consent carried by identify traits (`consent: { email: 'subscribed', sms: false }`): the
 * statuses it sets, per channel. A boolean means subscribed / unsubscribed; unknown channels
 * and values are ignored (a trait is data, not a command that can fail the identify).
 */
export function consentFromTraits(traits: Record<string, unknown>): Partial<Record<ConsentChannel, ConsentStatus>> {
  const given = traits.consent;
  if (!given || typeof given !== 'object' || Array.isArray(given)) return {};
  const out: Partial<Record<ConsentChannel, ConsentStatus>> = {};
  for (const channel of CONSENT_CHANNELS) {
    const value = (given as Record<string, unknown>)[channel];
    if (value === true) out[channel] = 'subscribed';
    else if (value === false) out[channel] = 'unsubscribed';
    else {
      const status = consentStatus.safeParse(value);
      if (status.success) out[channel] = status.data;
    }
  }
  return out;
}

/**
 * What a consent decision sent with a write key records. A write key is public (it sits in a web page), so what it
 * says proves nobody's consent: an opt-out is taken as said (anyone may stop messages; a forged one only stops them),
 * but an opt-in (`subscribed` or `pending`) becomes `pending`, on email with our confirmation email (double opt-in),
 * on SMS and push with the request's proof kept until a confirmation recorded with an admin key. A channel already
 * `subscribed` stays so (the browser only repeats it), and `never_asked` from a browser erases nothing.
 * Undefined: nothing to record.
 */
export function consentFromWriteKey(
  channel: ConsentChannel,
  asked: ConsentStatus,
  current: ConsentStatus,
): { status: ConsentStatus; confirmByEmail: boolean } | undefined {
  if (asked === 'unsubscribed') return { status: 'unsubscribed', confirmByEmail: false };
  if (asked === 'never_asked' || current === 'subscribed') return undefined;
  return { status: 'pending', confirmByEmail: channel === 'email' };
}

/** Where a write key's request came from: its proof, since the key proves nobody. */
export interface WriteKeyRequest {
  ip?: string | null;
  userAgent?: string | null;
  /** Kept in the event's `proof` (the page it was sent from). */
  proof?: Record<string, unknown>;
}

/** The source of consent recorded from a write key: its proof is the request, not a person. */
export const WRITE_KEY_CONSENT_SOURCE = 'write_key';

/** Who a suppression stops: marketing only (an unsubscribe), or every message (a hard bounce, a carrier STOP). */
export type SuppressionScope = 'marketing' | 'all';

/** The source of a consent change that came as an SMS keyword (`sms_keyword_stop`, `sms_keyword_start`). */
export const smsKeywordSource = (keyword: string): string => `sms_keyword_${keyword.trim().toLowerCase()}`;
const isSmsKeyword = (source: string) => source.startsWith('sms_keyword_');

/** What a consent change does to the suppressions of the address it was given for. */
export type SuppressionChange =
  | { kind: 'suppress'; scope: SuppressionScope; reason: string }
  | { kind: 'lift'; scope: SuppressionScope }
  | { kind: 'none' };

/**
 * The one rule of what a consent decision implies for the address (db/consent.ts `writeConsent` applies it, whoever
 * records the decision: API, import, identify traits, preference page, unsubscribe link, provider webhooks, double
 * opt-in). Suppressions follow the address and outlive the contact (erasure keeps them as hashes), so an opt-out
 * recorded anywhere stays honoured after the contact is erased and created again.
 * - An opt-out suppresses the address for marketing; a carrier keyword (STOP) was said to the carrier and stops every
 *   message, transactional included.
 * - An explicit opt-in lifts a marketing suppression; a carrier START lifts the carrier's STOP too. A hard bounce is
 *   not a decision of the person's and no opt-in lifts it.
 * - `pending` and `never_asked` leave the suppressions as they are.
 */
export function suppressionAfter(change: { status: ConsentStatus; source: string }): SuppressionChange {
  const keyword = isSmsKeyword(change.source);
  if (change.status === 'unsubscribed') {
    if (keyword)
      return { kind: 'suppress', scope: 'all', reason: `SMS keyword ${change.source.slice(12).toUpperCase()}` };
    if (change.source === 'spam_report') return { kind: 'suppress', scope: 'marketing', reason: 'spam report' };
    return { kind: 'suppress', scope: 'marketing', reason: `unsubscribed (${change.source})` };
  }
  if (change.status === 'subscribed') return { kind: 'lift', scope: keyword ? 'all' : 'marketing' };
  return { kind: 'none' };
}
