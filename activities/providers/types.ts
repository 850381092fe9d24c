/** What the send pipeline needs from a provider: one call, an id back, or a classified error. */
import type { PushSubscription } from '../../db/push-subscriptions';

export interface OutgoingEmail {
  to: string;
  from: string;
  subject: string;
  html: string;
  text?: string;
  /** Echoed back on every SendGrid webhook event: ids only, never personal data. */
  customArgs: Record<string, string>;
  /** List-Unsubscribe and List-Unsubscribe-Post on marketing mail. */
  headers?: Record<string, string>;
}

export interface OutgoingSms {
  to: string;
  body: string;
}

export interface OutgoingPush {
  subscriptions: PushSubscription[];
  /** JSON the service worker receives: title, body, url, icon. */
  payload: string;
}

export interface SendResult {
  providerMessageId: string;
  /** Push: subscriptions the push service says are gone (404/410); they are deleted. */
  gone?: string[];
}

/** What we know of an attempt whose outcome is unknown, to ask the provider about it. */
export interface LookupQuery {
  /** The message row's recipient. */
  to: string;
  /** The rendered fields stored on the row (SMS: body). */
  content: Record<string, string>;
  /** When the attempt claimed the message: the provider cannot have it from before. */
  since: Date;
}

export interface Provider<M> {
  /** Stored on the message row: sendgrid, twilio, webpush, outbox. */
  name: string;
  send(message: M): Promise<SendResult>;
  /**
   * Providers that can list what they accepted (Twilio) answer whether an attempt whose outcome
   * is unknown reached them: its id, or null when it certainly did not. Throws when it cannot tell.
   */
  lookup?(query: LookupQuery): Promise<{ providerMessageId: string } | null>;
}

/** Default timeout of one provider HTTP call: well below the send activity's 1-minute startToCloseTimeout. */
export const PROVIDER_TIMEOUT_MS = 15_000;

/**
 * Many recipients of one email in one request (campaigns): the body is shared, each
 * personalization has its own address, subject, custom args (our message id), headers and
 * substitutions (`%%key%%` in the body: the recipient's own unsubscribe link).
 */
export interface OutgoingEmailBatch {
  from: string;
  html: string;
  text?: string;
  personalizations: {
    to: string;
    subject: string;
    customArgs: Record<string, string>;
    headers?: Record<string, string>;
    substitutions?: Record<string, string>;
  }[];
}

/** SendGrid's substitution tags in a batch body: `%%name%%`. */
export const substitutionTag = (name: string) => `%%${name}%%`;

export type EmailProvider = Provider<OutgoingEmail> & {
  /** One request for the whole batch (SendGrid: up to 1,000 personalizations); absent: one send per recipient. */
  sendBatch?(batch: OutgoingEmailBatch): Promise<SendResult>;
};
export type SmsProvider = Provider<OutgoingSms>;
export type PushProvider = Provider<OutgoingPush>;

/**
 * A provider call that did not succeed. Retryable: throttling (429), provider errors (5xx)
 * and network failures. Anything else (bad address, bad request) will not succeed on retry.
 * `ambiguous`: the request may have reached the provider (a timeout, a connection closed after
 * the request was written): whether the message went out is unknown.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    /** What still needs bookkeeping although the send failed (push: gone subscriptions). */
    readonly partial?: SendResult,
    readonly ambiguous = false,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** An HTTP answer: the provider said what it did (429 and 5xx: not accepted, try again). */
  static fromStatus(provider: string, status: number | undefined, detail: string): ProviderError {
    if (status === undefined) return new ProviderError(`${provider} network error: ${detail}`, true);
    const retryable = status === 429 || status >= 500;
    return new ProviderError(`${provider} ${status}: ${detail}`, retryable, status);
  }

  /** No HTTP answer: retryable, and ambiguous unless the request certainly never left. */
  static fromNetwork(provider: string, err: unknown): ProviderError {
    const message = err instanceof Error ? err.message : String(err);
    const sure = requestNeverSent(err);
    return new ProviderError(
      `${provider} network error (${sure ? 'not sent' : 'outcome unknown'}): ${message}`,
      true,
      undefined,
      undefined,
      !sure,
    );
  }
}

/**
 * Errors raised before any byte of the request could reach the provider: no connection was made
 * (refused, no route, no DNS answer) or TLS refused it. Everything else (timeouts, resets, a socket
 * closed mid-answer) may come after the provider accepted the message.
 */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export function requestNeverSent(err: unknown): boolean {
  for (
    let e: unknown = err, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth += 1
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NEVER_SENT.has(code)) return true;
    // AggregateError (happy eyeballs): every address refused.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => requestNeverSent(x))) return true;
  }
  return false;
}
