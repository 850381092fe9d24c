/**
 * A campaign: one message (an email, SMS or push step of the flow language, same Liquid) sent
 * once to an audience of lists and segments minus exclusions, now, at a moment, at a local
 * time in each contact's zone, or on a recurring schedule. One schema; the API validates with
 * it, the workflow and activities import its types only.
 */
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { isKnownMoment, momentId } from '../calendar/moments';
import {
  audienceId,
  clock,
  duration,
  emailStep,
  holdout,
  pushStep,
  quietWindow,
  slug,
  smsStep,
  weekday,
  whenCapped,
} from '../flows/schema';

const isoDateTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date-time');
const zone = z.string().refine((s) => IANAZone.isValidZone(s), 'not an IANA time zone (e.g. "Europe/Paris")');

/** The message: a flow step without graph fields; transactional is refused (campaigns are marketing). */
const messageFields = { id: slug.default('message'), transactional: z.literal(false).default(false) };
export const campaignMessage = z.discriminatedUnion('type', [
  emailStep.omit({ next: true, label: true }).extend(messageFields),
  smsStep.omit({ next: true, label: true }).extend(messageFields),
  pushStep.omit({ next: true, label: true }).extend(messageFields),
]);
export type CampaignMessage = z.output<typeof campaignMessage>;

const audienceIds = z.array(audienceId).max(50).default([]);
export const campaignAudience = z
  .strictObject({
    lists: audienceIds,
    segments: audienceIds,
    exclude: z.strictObject({ lists: audienceIds, segments: audienceIds }).default({ lists: [], segments: [] }),
  })
  .refine((a) => a.lists.length + a.segments.length > 0, { message: 'name at least one list or segment to send to' });
export type CampaignAudience = z.output<typeof campaignAudience>;

/**
 * When it goes out. `at` + `localTime`: on the date of `at`, at that hour in each contact's zone
 * (timezone trait, else DEFAULT_TIMEZONE). `moment`: `offsetDays` from the next date of a
 * calendar moment (calendar/moments.ts: built in or CALENDAR_MOMENTS), at `at` in each contact's
 * zone, resolved when scheduled (campaigns/occurrences.ts); `yearly`: again at every later date.
 */
export const campaignSchedule = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('now') }),
  z.strictObject({ type: z.literal('at'), at: isoDateTime, localTime: clock.optional() }),
  z
    .strictObject({
      type: z.literal('recurring'),
      every: z.enum(['day', 'week']),
      at: clock,
      weekday: weekday.optional(),
      timezone: zone.default('UTC'),
    })
    .refine((s) => s.every === 'week' || s.weekday === undefined, {
      message: '`weekday` only with every: "week"',
      path: ['weekday'],
    })
    .refine((s) => s.every === 'day' || s.weekday !== undefined, {
      message: 'a weekly campaign needs `weekday`',
      path: ['weekday'],
    }),
  z.strictObject({
    type: z.literal('moment'),
    moment: momentId.refine(
      isKnownMoment,
      'not a calendar moment (GET /v1/calendar lists them; CALENDAR_MOMENTS adds some)',
    ),
    /** Days from the moment's date: -3 is three days before. */
    offsetDays: z.number().int().min(-366).max(366).default(0),
    at: clock,
    yearly: z.boolean().default(false),
  }),
]);
export type CampaignSchedule = z.output<typeof campaignSchedule>;
export type MomentSchedule = Extract<CampaignSchedule, { type: 'moment' }>;

/** A variant replaces some of the message's fields (subject, content); the rest is the message's. */
const variant = z.strictObject({
  id: slug,
  subject: z.string().min(1).max(998).optional(),
  html: z.string().min(1).optional(),
  text: z.string().optional(),
  title: z.string().min(1).max(200).optional(),
  body: z.string().min(1).max(1600).optional(),
});
export type CampaignVariant = z.output<typeof variant>;

/**
 * A/B test: `testPercent` of the audience, spread evenly over the variants, gets the message
 * first; `after` that long, the variant with the best unique open (or click) rate goes to the rest.
 */
export const abTest = z
  .strictObject({
    variants: z.array(variant).min(2).max(5),
    testPercent: z.number().int().min(2).max(50).default(20),
    winnerBy: z.enum(['opens', 'clicks']).default('opens'),
    after: duration,
  })
  .refine((t) => new Set(t.variants.map((v) => v.id)).size === t.variants.length, {
    message: 'variant ids must be unique',
    path: ['variants'],
  });

export const campaignInput = z.strictObject({
  /** Optional in the body; when given it must match the URL. */
  id: slug.optional(),
  name: z.string().min(1).max(200),
  message: campaignMessage,
  audience: campaignAudience,
  schedule: campaignSchedule.default({ type: 'now' }),
  /** Messages per minute on the campaign's channel; null: as fast as the provider takes them. */
  throttlePerMinute: z.number().int().min(1).max(1_000_000).nullable().default(null),
  /** Skip contacts who got a marketing message on this channel within `hours`. */
  smartSending: z
    .strictObject({ enabled: z.boolean().default(true), hours: z.number().min(0).max(720).default(16) })
    .default({ enabled: true, hours: 16 }),
  /** Recipients inside the window get the message when it ends (their zone); null: none. */
  quietHours: quietWindow.nullable().default(null),
  /** Only contacts `subscribed` on the channel, whatever CONSENT_EMAIL says. */
  requireSubscribed: z.boolean().default(false),
  /**
   * Under the frequency cap (campaigns have the lowest priority, audiences/frequency-cap.ts):
   * skip a capped contact, or wait until the cap allows the message (within this run).
   */
  whenCapped: whenCapped.default('skip'),
  /**
   * A control group: this share of the audience (sticky per contact, audiences/holdout.ts, key
   * `campaign:<id>`) is frozen with the run but receives nothing; stats give the lift.
   */
  holdout: holdout.optional(),
  abTest: abTest.optional(),
});
export type CampaignInput = z.input<typeof campaignInput>;
export type CampaignDefinition = z.output<typeof campaignInput> & { id: string };

/** The key a campaign's holdout hashes with (audiences/holdout.ts isHeldOut). */
export const campaignHoldoutKey = (campaignId: string) => `campaign:${campaignId}`;

export const campaignStatus = z.enum(['draft', 'scheduled', 'sending', 'paused', 'completed', 'cancelled']);
export type CampaignStatus = z.infer<typeof campaignStatus>;

/** The message a recipient of this variant gets (the message itself without an A/B test). */
export function variantMessage(
  campaign: Pick<CampaignDefinition, 'message' | 'abTest'>,
  variantId: string | null,
): CampaignMessage {
  const v = variantId === null ? undefined : campaign.abTest?.variants.find((x) => x.id === variantId);
  if (!v) return campaign.message;
  const { id, ...fields } = v;
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return { ...campaign.message, ...defined, id } as CampaignMessage;
}
