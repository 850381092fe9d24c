/**
 * Activities: all I/O of a journey. Built from their dependencies so the worker, tests and
 * benchmarks wire real providers, fakes' URLs or the outbox without touching the workflow.
 */
import { canonicalContactId } from '../db/contact-merge';
import { getContact } from '../db/contacts';
import { recordJourneyEnd as writeJourneyEnd } from '../db/journeys';
import { deletePushSubscriptions, pushSubscriptionsOf } from '../db/push-subscriptions';
import type { StepOf } from '../flows/schema';
import type { JourneyExit, JourneyState, StepRecord } from '../flows/journey-messages';
import { wakeTime, zoneOf } from './clock';
import { profileOf } from './facts';
import type { GuardRequest, JourneyRef } from './guard';
import { applyProfileStep } from './profile';
import type { OutgoingEmail, OutgoingPush, OutgoingSms } from './providers/types';
import {
  sendMessage,
  UNSUBSCRIBE_PLACEHOLDER,
  type ChannelSender,
  type SendOutcome,
  type SendPolicy,
  type SendRequest,
} from './send-message';
import { appendToHtml, listUnsubscribeHeaders, openPixel, trackClicks, unsubscribeUrl } from '../sending/links';
import { createSegmentActivities } from './segments';
import { createFlowStatusActivities } from './flow-status';
import { createCalendarActivities } from './calendar';
import { createCampaignActivities } from './campaign';
import { evaluateSplit } from './split';
import { callWebhook } from './webhook';
import { findStoredEvent, type StoredEventQuery } from './wait';
import { escapeHtml } from '../locales/texts';
import { contactLanguage, ENGLISH_ONLY, translator } from '../locales/texts';
import { withMarketingFooter } from '../locales/sms-footer';
import type { ActivityDeps } from './deps';

// Defined in deps.ts so that campaign.ts, which index.ts imports, can use it without a module cycle.
export type { ActivityDeps } from './deps';

export interface JourneyEnd {
  journey: JourneyRef;
  status: Exclude<JourneyState['status'], 'running'>;
  exit: JourneyExit | null;
  currentStep: string | null;
  steps?: StepRecord[];
}

export function createActivities(deps: ActivityDeps) {
  const policy: SendPolicy = {
    frequencyCapPerDay: deps.frequencyCapPerDay ?? 0,
    frequencyCapPerChannel: deps.frequencyCapPerChannel,
    leaseMs: deps.sendLeaseMs,
    consentEmail: deps.consentEmail,
  };
  const texts = deps.texts ?? ENGLISH_ONLY;
  const emailSender: ChannelSender<StepOf<'email'>, OutgoingEmail> = {
    channel: 'email',
    provider: deps.email,
    compose: async (_db, r, to, step, customArgs, contact, rules) => {
      const messageId = customArgs.parcours_message_id;
      let html = rules.tracking?.clicks ? trackClicks(r.html, deps.links, messageId) : r.html;
      let headers: Record<string, string> | undefined;
      if (!step.transactional) {
        // RFC 8058 one-click unsubscribe, and a visible link when the template has none.
        const link = unsubscribeUrl(deps.links, messageId);
        headers = listUnsubscribeHeaders(deps.links, messageId);
        html = html.includes(UNSUBSCRIBE_PLACEHOLDER)
          ? html.split(UNSUBSCRIBE_PLACEHOLDER).join(link)
          : appendToHtml(html, unsubscribeFooter(link, translator(texts, contactLanguage(texts, contact.traits))));
      }
      if (rules.tracking?.opens) html = appendToHtml(html, openPixel(deps.links, messageId));
      const text = r.text?.split(UNSUBSCRIBE_PLACEHOLDER).join(unsubscribeUrl(deps.links, messageId));
      return { to, from: step.from ?? deps.emailFrom, subject: r.subject, html, text, customArgs, headers };
    },
  };
  const smsSender: ChannelSender<StepOf<'sms'>, OutgoingSms> = {
    channel: 'sms',
    provider: deps.sms,
    // Marketing SMS carry the shop's opt-out wording in the contact's language ("STOP au 36111"), when it set one.
    compose: async (_db, r, to, step, _ids, contact) => ({
      to,
      body: step.transactional ? r.body : withMarketingFooter(r.body, texts, contact.traits),
    }),
  };
  const pushSender: ChannelSender<StepOf<'push'>, OutgoingPush> = {
    channel: 'push',
    provider: deps.push,
    compose: async (db, r, _to, _step, ids, contact) => ({
      subscriptions: await pushSubscriptionsOf(db, contact.id),
      payload: JSON.stringify({ title: r.title, body: r.body, url: r.url, icon: r.icon, data: ids }),
    }),
    afterSend: async (db, result) => deletePushSubscriptions(db, result.gone ?? []),
  };

  // A journey keeps the contact id it started with (its workflow input), which may since have
  // been merged into a known contact (anonymous → known): every activity acts on that one.
  const merged = async <R extends { journey: JourneyRef }>(req: R): Promise<R> => {
    const contactId = await canonicalContactId(deps.db, req.journey.contactId);
    return contactId === req.journey.contactId ? req : { ...req, journey: { ...req.journey, contactId } };
  };

  return {
    ...createSegmentActivities(deps.db),
    ...createFlowStatusActivities(deps.db),
    ...createCalendarActivities(deps.db),
    ...createCampaignActivities(deps),
    async sendEmail(req: SendRequest<StepOf<'email'>>): Promise<SendOutcome> {
      return sendMessage(deps.db, emailSender, policy, await merged(req));
    },
    async sendSms(req: SendRequest<StepOf<'sms'>>): Promise<SendOutcome> {
      return sendMessage(deps.db, smsSender, policy, await merged(req));
    },
    async sendPush(req: SendRequest<StepOf<'push'>>): Promise<SendOutcome> {
      return sendMessage(deps.db, pushSender, policy, await merged(req));
    },
    async callWebhook(req: GuardRequest & { step: StepOf<'webhook'> }) {
      return callWebhook(deps.db, deps.webhookSecret, await merged(req), { leaseMs: deps.sendLeaseMs });
    },
    async evaluateSplit(req: Parameters<typeof evaluateSplit>[1]) {
      return evaluateSplit(deps.db, await merged(req));
    },
    async updateProfile(req: GuardRequest & { step: StepOf<'update_profile'> }) {
      return applyProfileStep(deps.db, await merged(req));
    },
    /** wait_for_event: the awaited event in the stored events, before taking the timeout branch. */
    async findStoredEvent(query: StoredEventQuery) {
      return findStoredEvent(deps.db, { ...query, contactId: await canonicalContactId(deps.db, query.contactId) });
    },
    /** When a delay_until step ends, in the contact's time zone. */
    async resolveWakeTime(req: {
      journey: JourneyRef;
      step: StepOf<'delay_until'>;
      trigger: GuardRequest['trigger'];
      now: number;
    }): Promise<{ at: string; zone: string } | { error: string }> {
      const profile = profileOf(await getContact(deps.db, await canonicalContactId(deps.db, req.journey.contactId)));
      const zone = zoneOf(profile, req.step.timezone);
      const wake = wakeTime(req.step, req.now, zone, {
        contact: profile,
        event: { name: req.trigger.name, properties: req.trigger.properties, timestamp: req.trigger.timestamp },
      });
      return 'error' in wake ? wake : { at: new Date(wake.at).toISOString(), zone };
    },
    async recordJourneyEnd(end: JourneyEnd): Promise<void> {
      const { journey } = await merged(end);
      await writeJourneyEnd(deps.db, {
        ...journey,
        status: end.status,
        exitReason: end.exit?.reason ?? null,
        exitDetail: end.exit,
        currentStep: end.currentStep,
        steps: end.steps ?? null,
      });
    },
  };
}

export type JourneyActivities = ReturnType<typeof createActivities>;

/** The visible unsubscribe link of a marketing email whose template has none, in the contact's language. */
export function unsubscribeFooter(link: string, t: (key: 'email.unsubscribe_link') => string): string {
  return `<p style="font-size:12px;color:#888"><a href="${link}">${escapeHtml(t('email.unsubscribe_link'))}</a></p>`;
}
