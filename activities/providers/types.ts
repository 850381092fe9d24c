/** What the send pipeline needs from a provider: one call, an id back, or a classified error. */

export interface OutgoingEmail {
  to: string;
  from: string;
  subject: string;
  html: string;
  text?: string;
  /** Echoed back on every SendGrid webhook event: ids only, never personal data. */
  customArgs: Record<string, string>;
}

export interface OutgoingSms {
  to: string;
  body: string;
}

export interface Provider<M> {
  /** Stored on the message row: sendgrid, twilio, outbox. */
  name: string;
  send(message: M): Promise<{ providerMessageId: string }>;
}

export type EmailProvider = Provider<OutgoingEmail>;
export type SmsProvider = Provider<OutgoingSms>;

/**
 * A provider call that did not succeed. Retryable: throttling (429), provider errors (5xx)
 * and network failures. Anything else (bad address, bad request) will not succeed on retry.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  static fromStatus(provider: string, status: number | undefined, detail: string): ProviderError {
    const retryable = status === undefined || status === 429 || status >= 500;
    return new ProviderError(`${provider} ${status ?? 'network error'}: ${detail}`, retryable, status);
  }
}
