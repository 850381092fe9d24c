import twilio from 'twilio';
import { ProviderError, type SmsProvider } from './types';

/**
 * Twilio's `edge`/`region` options cannot point at another host, so a request client
 * rewrites `https://*.twilio.com` to `baseUrl` (tests run a fake Twilio on 127.0.0.1).
 */
class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super();
  }

  override request<TData>(opts: Parameters<twilio.RequestClient['request']>[0] & { data?: TData }) {
    return super.request({ ...opts, uri: opts.uri.replace(/^https:\/\/[a-z0-9.-]*twilio\.com/, this.baseUrl.replace(/\/$/, '')) });
  }
}

export function twilioProvider(opts: { accountSid: string; authToken: string; from: string; baseUrl?: string; /** Our status-callback URL. */ statusCallback?: string }): SmsProvider {
  const client = twilio(opts.accountSid, opts.authToken, opts.baseUrl ? { httpClient: new RedirectingRequestClient(opts.baseUrl) } : {});
  return {
    name: 'twilio',
    async send(sms) {
      try {
        const message = await client.messages.create({ to: sms.to, from: opts.from, body: sms.body, ...(opts.statusCallback ? { statusCallback: opts.statusCallback } : {}) });
        return { providerMessageId: message.sid };
      } catch (err) {
        const e = err as { status?: number; code?: number; message: string };
        throw ProviderError.fromStatus('Twilio', e.status, `${e.code ? `error ${e.code}: ` : ''}${e.message}`);
      }
    },
  };
}
