/** What the send pipeline needs from a provider: one call, an id back, or a classified error. */

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

export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
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

export interface Provider<M> {
  /** Stored on the message row: sendgrid, twilio, webpush, outbox. */
  name: string;
  send(message: M): Promise<SendResult>;
}

export type EmailProvider = Provider<OutgoingEmail>;
export type SmsProvider = Provider<OutgoingSms>;
export type PushProvider = Provider<OutgoingPush>;

/**
 * A provider call that did not succeed. Retryable: throttling (429), provider errors (5xx)
 * and network failures. Anything else (bad address, bad request) will not succeed on retry.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    /** What still needs bookkeeping although the send failed (push: gone subscriptions). */
    readonly partial?: SendResult,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  static fromStatus(provider: string, status: number | undefined, detail: string): ProviderError {
    const retryable = status === undefined || status === 429 || status >= 500;
    return new ProviderError(`${provider} ${status ?? 'network error'}: ${detail}`, retryable, status);
  }
}
