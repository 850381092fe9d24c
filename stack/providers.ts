/** Real providers when credentials are configured, the local outbox otherwise. */
import type { ActivityDeps } from '../activities';
import { outboxProvider } from '../activities/providers/outbox';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { twilioProvider } from '../activities/providers/twilio';
import type { OutgoingEmail, OutgoingPush, OutgoingSms } from '../activities/providers/types';
import { webPushProvider } from '../activities/providers/webpush';
import { publicUrl, type Env } from '../runtime/env';
import { textsFromEnv } from '../runtime/texts';

export function providersFromEnv(env: Env, linkSecret: string): Omit<ActivityDeps, 'db' | 'routing'> {
  const email = env.SENDGRID_API_KEY
    ? sendgridProvider({ apiKey: env.SENDGRID_API_KEY, baseUrl: env.SENDGRID_BASE_URL })
    : outboxProvider<OutgoingEmail>();
  const sms =
    env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && env.TWILIO_FROM
      ? twilioProvider({
          accountSid: env.TWILIO_ACCOUNT_SID,
          authToken: env.TWILIO_AUTH_TOKEN,
          from: env.TWILIO_FROM,
          baseUrl: env.TWILIO_BASE_URL,
          // Only with a public URL: Twilio must be able to reach it.
          ...(env.PUBLIC_URL ? { statusCallback: `${publicUrl(env)}/v1/webhooks/twilio/status` } : {}),
        })
      : outboxProvider<OutgoingSms>();
  const push =
    env.VAPID_PUBLIC_KEY && env.VAPID_PRIVATE_KEY && env.VAPID_SUBJECT
      ? webPushProvider({
          publicKey: env.VAPID_PUBLIC_KEY,
          privateKey: env.VAPID_PRIVATE_KEY,
          subject: env.VAPID_SUBJECT,
        })
      : outboxProvider<OutgoingPush>();
  return {
    email,
    sms,
    push,
    emailFrom: env.EMAIL_FROM ?? 'parcours@localhost',
    webhookSecret: env.WEBHOOK_SECRET,
    frequencyCapPerDay: env.FREQUENCY_CAP_PER_DAY,
    frequencyCapPerChannel: {
      email: env.FREQUENCY_CAP_EMAIL_PER_DAY,
      sms: env.FREQUENCY_CAP_SMS_PER_DAY,
      push: env.FREQUENCY_CAP_PUSH_PER_DAY,
    },
    consentEmail: env.CONSENT_EMAIL,
    links: { publicUrl: publicUrl(env), secret: linkSecret },
    texts: textsFromEnv(env),
  };
}
