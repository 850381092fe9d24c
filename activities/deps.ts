/** What every activity factory receives from the composition root (stack/compose.ts, stack/providers.ts). */
import type { ConsentEmailPolicy } from '../audiences/consent-policy';
import type { Db } from '../db/pool';
import type { Texts } from '../locales/texts';
import type { LinkSettings } from '../sending/links';
import type { FrequencyCaps } from '../sending/policy';
import type { EmailProvider, PushProvider, SmsProvider } from './providers/types';

export interface ActivityDeps {
  db: Db;
  email: EmailProvider;
  sms: SmsProvider;
  push: PushProvider;
  /** Sender address for email steps that do not name one. */
  emailFrom: string;
  /** Signs webhook steps' requests. */
  webhookSecret?: string;
  /** Marketing messages per contact per 24 h, all channels (0: no cap). */
  frequencyCapPerDay?: number;
  /** Per channel caps besides it (FREQUENCY_CAP_EMAIL_PER_DAY…; 0 or absent: none). */
  frequencyCapPerChannel?: FrequencyCaps['perChannel'];
  /** Public base URL and secret of unsubscribe and tracking links. */
  links: LinkSettings;
  /** How long an attempt's claim on a message lasts unrenewed (default 30 s; tests shorten it). */
  sendLeaseMs?: number;
  /** CONSENT_EMAIL (audiences/consent-policy.ts `emailPolicyFrom`); default opt_out. */
  consentEmail?: ConsentEmailPolicy;
  /** The shop's texts and DEFAULT_LOCALE (the unsubscribe link's words, the marketing SMS footer); default English. */
  texts?: Texts;
}
