import twilio from 'twilio';
import { PROVIDER_TIMEOUT_MS, ProviderError, type SmsProvider } from './types';

/**
 * Twilio's `edge`/`region` options cannot point at another host, so a request client
 * rewrites `https://*.twilio.com` to `baseUrl` (tests run a fake Twilio on 127.0.0.1).
 */
class RedirectingRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    timeout: number,
  ) {
    super({ timeout });
  }

  override request<TData>(opts: Parameters<twilio.RequestClient['request']>[0] & { data?: TData }) {
    return super.request({
      ...opts,
      uri: opts.uri.replace(/^https:\/\/[a-z0-9.-]*twilio\.com/, this.baseUrl.replace(/\/$/, '')),
    });
  }
}

export function twilioProvider(opts: {
  accountSid: string;
  authToken: string;
  from: string;
  baseUrl?: string;
  /** Our status-callback URL. */
  statusCallback?: string;
  /** Per request; default PROVIDER_TIMEOUT_MS (Twilio's own default is 30 s). */
  timeoutMs?: number;
}): SmsProvider {
  const timeout = opts.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  const httpClient = opts.baseUrl
    ? new RedirectingRequestClient(opts.baseUrl, timeout)
    : new twilio.RequestClient({ timeout });
  const client = twilio(opts.accountSid, opts.authToken, { httpClient });
  return {
    name: 'twilio',
    async send(sms) {
      try {
        const message = await client.messages.create({
          to: sms.to,
          from: opts.from,
          body: sms.body,
          ...(opts.statusCallback ? { statusCallback: opts.statusCallback } : {}),
        });
        return { providerMessageId: message.sid };
      } catch (err) {
        throw twilioError(err);
      }
    },
    /**
     * Twilio lists messages by recipient and send date: an attempt whose outcome is unknown
     * is looked up (same sender, same body, sent since the attempt began) before sending again.
     */
    async lookup(query) {
      try {
        // DateSent> filters by day: the margin keeps a message sent just before midnight (UTC) in.
        const candidates = await client.messages.list({
          to: query.to,
          from: opts.from,
          dateSentAfter: new Date(query.since.getTime() - 86_400_000),
          limit: 200,
        });
        const match = candidates.find(
          (m) =>
            m.body === query.content.body &&
            (m.dateCreated ?? m.dateSent ?? new Date(0)) >= new Date(query.since.getTime() - 60_000),
        );
        return match ? { providerMessageId: match.sid } : null;
      } catch (err) {
        throw twilioError(err);
      }
    },
  };
}

function twilioError(err: unknown): ProviderError {
  const e = err as { status?: unknown; code?: unknown; message: string };
  // RestException: an HTTP answer (status is a number); anything else is the transport's error.
  if (typeof e.status !== 'number') return ProviderError.fromNetwork('Twilio', err);
  return ProviderError.fromStatus('Twilio', e.status, `${e.code ? `error ${String(e.code)}: ` : ''}${e.message}`);
}
