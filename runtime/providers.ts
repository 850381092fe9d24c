/** Real providers when credentials are configured, the local outbox otherwise. */
import { outboxProvider } from '../activities/providers/outbox';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { twilioProvider } from '../activities/providers/twilio';
import type { EmailProvider, OutgoingEmail, OutgoingSms, SmsProvider } from '../activities/providers/types';
import type { Env } from './env';

export function providersFromEnv(env: Env): { email: EmailProvider; sms: SmsProvider; emailFrom: string } {
  const email = env.SENDGRID_API_KEY
    ? sendgridProvider({ apiKey: env.SENDGRID_API_KEY, baseUrl: env.SENDGRID_BASE_URL })
    : outboxProvider<OutgoingEmail>();
  const sms =
    env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && env.TWILIO_FROM
      ? twilioProvider({ accountSid: env.TWILIO_ACCOUNT_SID, authToken: env.TWILIO_AUTH_TOKEN, from: env.TWILIO_FROM, baseUrl: env.TWILIO_BASE_URL })
      : outboxProvider<OutgoingSms>();
  return { email, sms, emailFrom: env.EMAIL_FROM ?? 'parcours@localhost' };
}
