/**
 * The flow language: one zod schema per part, and the TypeScript types derived from it.
 * The API validates with these schemas; the workflow and activities import the types only.
 *
 * Steps form a graph: each step has an id and, optionally, `next` (default: the step after it
 * in the list). Branching steps name their other targets (`then`/`else`, `onEvent`/`onTimeout`,
 * `branches[].next`); each defaults to the step's own next.
 */
import { z } from 'zod';
import { isKnownMoment, momentId } from '../calendar/moments';
import { MAX_DELAY_MS, MIN_DELAY_MS, parseDuration } from './duration';
import { EVENTS } from './event-names';

export const slug = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    'use 1-64 lowercase letters, digits, "-" or "_", starting with a letter or digit',
  );
export const flowId = slug;

export const duration = z.string().superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a duration; write e.g. "30 seconds", "1 hour", "2 days", "1 week"`,
    });
  } else if (ms < MIN_DELAY_MS || ms > MAX_DELAY_MS) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is out of range: from 1 second to 366 days` });
  }
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);
/** Compare with a property of the journey's trigger event (keyed journeys: "the order for this cart"). */
const fromTrigger = z.strictObject({ fromTrigger: z.string().min(1) });
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date or date-time');

const property = z.string().min(1).max(200);
export const propertyCondition = z.discriminatedUnion('op', [
  z.strictObject({ property, op: z.enum(['exists', 'not_exists']) }),
  z.strictObject({ property, op: z.enum(['equals', 'not_equals', 'contains']), value: z.union([scalar, fromTrigger]) }),
  z.strictObject({ property, op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.union([z.number(), fromTrigger]) }),
  /** The property is a date before/after this one. */
  z.strictObject({ property, op: z.enum(['before', 'after']), value: z.union([isoDate, fromTrigger]) }),
  /** The property is a date within the last / more than this long ago ("signed up within 30 days"). */
  z.strictObject({ property, op: z.enum(['within_last', 'more_than_ago']), value: duration }),
]);
export type PropertyCondition = z.infer<typeof propertyCondition>;

export const eventName = z.string().min(1).max(200);

const count = z.strictObject({ op: z.enum(['gte', 'lte', 'eq']), value: z.number().int().min(0) });

/**
 * The contact did this event: at least once since the journey started by default; with
 * `within` in that trailing window instead ("5 orders in the last 365 days"), with `count`
 * as many times.
 */
/** A sum, min or max of a numeric property over the matching events, compared with a number. */
const aggregate = z.strictObject({ property, op: z.enum(['gt', 'gte', 'lt', 'lte', 'eq']), value: z.number() });
/** When the first / last matching event happened: "last order more than 90 days ago". */
const occurrence = z.strictObject({ op: z.enum(['within_last', 'more_than_ago']), value: duration });

/**
 * The contact did this event: at least once since the journey started by default; with
 * `within` in that trailing window instead ("5 orders in the last 365 days"), with `count`
 * as many times. Aggregates over the matching events in the window: `sum`/`min`/`max` of a
 * property, and when the `first`/`last` one happened; every one given must hold (with any of
 * them, `count` defaults to no constraint instead of "at least once").
 */
export const eventCondition = z.strictObject({
  event: eventName,
  where: z.array(propertyCondition).optional(),
  count: count.optional(),
  within: duration.optional(),
  sum: aggregate.optional(),
  min: aggregate.optional(),
  max: aggregate.optional(),
  first: occurrence.optional(),
  last: occurrence.optional(),
});
export type EventCondition = z.infer<typeof eventCondition>;
export type AggregateCondition = z.infer<typeof aggregate>;
export type OccurrenceCondition = z.infer<typeof occurrence>;

export const consentChannel = z.enum(['email', 'sms', 'push']);
export const consentStatus = z.enum(['subscribed', 'unsubscribed', 'pending', 'never_asked']);
/** Audience ids (segments, lists) are slugs like flow ids. */
export const audienceId = slug;

export const engagement = z.enum(['delivered', 'opened', 'clicked']);

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { profile: PropertyCondition }
  | { trigger: PropertyCondition }
  | EventCondition
  | { message: string; engaged: z.infer<typeof engagement> }
  | { segment: string }
  | { list: string }
  | { consent: { channel: z.infer<typeof consentChannel>; status: z.infer<typeof consentStatus> } };

/** Splits, flow filters and entry filters all use these conditions. */
export const condition: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ all: z.array(condition).min(1) }),
    z.strictObject({ any: z.array(condition).min(1) }),
    z.strictObject({ not: condition }),
    z.strictObject({ profile: propertyCondition }),
    z.strictObject({ trigger: propertyCondition }),
    eventCondition,
    /** A message this journey sent (its step id) was delivered / opened / clicked. */
    z.strictObject({ message: slug, engaged: engagement }),
    /** Audiences: a member of this segment / list; this consent status on a channel. */
    z.strictObject({ segment: audienceId }),
    z.strictObject({ list: audienceId }),
    z.strictObject({ consent: z.strictObject({ channel: consentChannel, status: consentStatus }) }),
  ]),
);

export const eventTrigger = z.strictObject({
  event: eventName,
  /** Conditions on the trigger event's properties. */
  where: z.array(propertyCondition).optional(),
  /** Conditions on the contact when the event arrives (profile, past events). */
  contact: condition.optional(),
});

/** Enters the contact when its profile starts to satisfy the condition (once per crossing). */
export const profileTrigger = z.strictObject({ profileChange: condition });

/**
 * Enters the contact `for` after its last `event` (with `where`), re-armed by every new one:
 * "no Order Completed for 90 days". Kept by a system segment of the contacts whose last such
 * event is more than `for` ago, and started by its Segment Entered (flows/inactivity.ts).
 * Contacts who never did the event are never entered.
 */
export const inactivityTrigger = z.strictObject({
  inactivity: z.strictObject({
    event: eventName,
    for: duration,
    where: z.array(propertyCondition).optional(),
    /** Leave the journey as soon as the contact does the event again (default). */
    exitOnReturn: z.boolean().default(true),
  }),
});
export type InactivityTrigger = z.infer<typeof inactivityTrigger>;

/** A daily window in the contact's time zone, "21:00" to "09:00" (may span midnight). */
export const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use 24-hour "HH:MM"');

/**
 * Date triggers (flows/date-triggers.ts): the flow is entered every year, at `at` in the
 * contact's time zone, `offsetDays` before (negative) or after the day.
 */
const offsetDays = z.number().int().min(-366).max(366);
/**
 * Computed dates a date trigger reads besides traits (db/contact-stats.ts keeps them; migration
 * 030 indexes their UTC day): the first-order anniversary needs no update_profile copy.
 */
export const COMPUTED_DATES = ['computed.firstOrderAt', 'computed.lastOrderAt'] as const;
/** On the anniversary of a contact date trait (birthday, signed_up_at, renewal_date…) or computed date. */
export const dateTrigger = z.strictObject({
  date: z.strictObject({
    property: z
      .string()
      .regex(/^[\w-]+(\.[\w-]+)*$/, 'a trait name, e.g. "birthday" (nested: "dates.birthday")')
      .max(200)
      .refine(
        (p) => !p.startsWith('computed.') || (COMPUTED_DATES as readonly string[]).includes(p),
        `computed dates a trigger reads: ${COMPUTED_DATES.join(', ')}`,
      ),
    offsetDays: offsetDays.default(0),
    at: clock.default('09:00'),
  }),
  contact: condition.optional(),
});
/** On the contact's name day (first name, French calendar: calendar/name-days.ts). */
export const nameDayTrigger = z.strictObject({
  nameDay: z.strictObject({ offsetDays: offsetDays.default(0), at: clock.default('09:00') }),
  contact: condition.optional(),
});
/** Relative to a calendar moment (calendar/moments.ts): every contact, or those `contact` holds for. */
export const momentTrigger = z.strictObject({
  moment: z.strictObject({
    id: momentId.refine(isKnownMoment, 'not a calendar moment (GET /v1/calendar/moments lists them)'),
    offsetDays: offsetDays.default(0),
    at: clock.default('09:00'),
  }),
  contact: condition.optional(),
});

export const trigger = z.union([
  eventTrigger,
  profileTrigger,
  inactivityTrigger,
  dateTrigger,
  nameDayTrigger,
  momentTrigger,
]);
export type Trigger = z.infer<typeof trigger>;
export type EventTrigger = z.infer<typeof eventTrigger>;
export type CalendarTrigger =
  | z.infer<typeof dateTrigger>
  | z.infer<typeof nameDayTrigger>
  | z.infer<typeof momentTrigger>;
export const quietWindow = z.strictObject({ from: clock, to: clock });
export type QuietWindow = z.infer<typeof quietWindow>;

const stepBase = {
  id: slug,
  /** The step to run after this one; default: the next step in the list. */
  next: slug.optional(),
  /** A line for people reading the flow or a journey's history. */
  label: z.string().max(200).optional(),
};

export const delayStep = z.strictObject({ ...stepBase, type: z.literal('delay'), duration });

export const weekday = z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);
/**
 * Waits until a moment: the next `at` o'clock (optionally `days` later, or on `weekday`) in the
 * contact's time zone, or a date property of the contact or trigger shifted by `offset`.
 */
export const delayUntilStep = z
  .strictObject({
    ...stepBase,
    type: z.literal('delay_until'),
    at: clock.optional(),
    days: z.number().int().min(0).max(366).optional(),
    weekday: weekday.optional(),
    /** `contact.renewal_date` or `event.properties.delivery_date`. */
    date: z
      .string()
      .regex(/^(contact|event)\.[\w.]+$/, 'use contact.<property> or event.<path>')
      .optional(),
    /** Shift from `date`, e.g. "-3 days". */
    offset: z
      .string()
      .regex(/^[+-]?\s*\d/, 'e.g. "-3 days" or "2 hours"')
      .optional(),
    /** IANA zone; default: the contact's `timezone` trait, else the server default. */
    timezone: z.string().optional(),
    /**
     * Wait for the next anniversary of `date` (a birthday in 1990: this year's, or next year's
     * once past), per calendar/anniversary.ts. Year-less dates ("12-25") are always yearly.
     */
    yearly: z.boolean().optional(),
  })
  .refine((s) => s.at !== undefined || s.date !== undefined, {
    message: 'give `at` (a time of day) or `date` (a date property)',
  })
  .refine((s) => !(s.weekday && s.days !== undefined), { message: '`weekday` and `days` cannot be combined' })
  .refine((s) => s.offset === undefined || s.date !== undefined, { message: '`offset` needs `date`', path: ['offset'] })
  .refine((s) => !s.yearly || s.date !== undefined, { message: '`yearly` needs `date`', path: ['yearly'] })
  .refine((s) => s.offset === undefined || parseDuration(s.offset.replace(/^[+-]\s*/, '')) !== undefined, {
    message: 'offset is not a duration',
    path: ['offset'],
  });

const sending = {
  /** Transactional messages (receipts) ignore marketing consent, smart sending and caps. */
  transactional: z.boolean().default(false),
};

export const emailStep = z.strictObject({
  ...stepBase,
  ...sending,
  type: z.literal('email'),
  /** LiquidJS templates over `contact`, `event` (the trigger) and `journey`. */
  subject: z.string().min(1).max(998),
  html: z.string().min(1),
  text: z.string().optional(),
  from: z.email().optional(),
});

export const smsStep = z.strictObject({
  ...stepBase,
  ...sending,
  type: z.literal('sms'),
  body: z.string().min(1).max(1600),
});

export const pushStep = z.strictObject({
  ...stepBase,
  ...sending,
  type: z.literal('push'),
  title: z.string().min(1).max(200),
  body: z.string().min(1).max(1000),
  url: z.string().optional(),
  icon: z.string().optional(),
});

export const webhookStep = z.strictObject({
  ...stepBase,
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/ }),
  /** A LiquidJS template that must render to JSON. */
  body: z.string().min(1),
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * A webhook is marketing by default (it may tell a CRM to send a coupon): a flow's holdout
   * (control) contacts skip it. `true`: the call is operational (an ERP, an order sync) and
   * every contact's journey makes it.
   */
  transactional: z.boolean().optional(),
});

export const splitStep = z.strictObject({
  ...stepBase,
  type: z.literal('split'),
  condition,
  then: slug.optional(),
  else: slug.optional(),
});

export const randomSplitStep = z
  .strictObject({
    ...stepBase,
    type: z.literal('random_split'),
    branches: z
      .array(z.strictObject({ name: slug, percent: z.number().min(0).max(100), next: slug.optional() }))
      .min(2)
      .max(10),
  })
  .refine((s) => Math.abs(s.branches.reduce((sum, b) => sum + b.percent, 0) - 100) < 1e-9, {
    message: 'branch percentages must add up to 100',
    path: ['branches'],
  });

export const waitForEventStep = z.strictObject({
  ...stepBase,
  type: z.literal('wait_for_event'),
  event: eventName,
  where: z.array(propertyCondition).optional(),
  /**
   * For an event about a message (Email Opened, Email Clicked, SMS Delivered…): whose message.
   * "last" (the default): the last message this journey sent before the wait; a send step's id:
   * that step's message; "any": any message, from any flow or campaign.
   */
  message: slug.optional(),
  timeout: duration,
  onEvent: slug.optional(),
  onTimeout: slug.optional(),
});

export const updateProfileStep = z
  .strictObject({
    ...stepBase,
    type: z.literal('update_profile'),
    /** Trait values; strings are LiquidJS templates. */
    set: z.record(z.string(), scalar).optional(),
    unset: z.array(z.string().min(1)).optional(),
    addTags: z.array(z.string().min(1)).optional(),
    removeTags: z.array(z.string().min(1)).optional(),
    /** Lead-score points to add (negative to subtract). */
    score: z.number().int().optional(),
  })
  .refine((s) => s.set || s.unset || s.addTags || s.removeTags || s.score !== undefined, {
    message: 'an update_profile step must change something',
  });

export const exitStep = z.strictObject({
  ...stepBase,
  type: z.literal('exit'),
  reason: z.string().max(200).optional(),
});

export const step = z.discriminatedUnion('type', [
  delayStep,
  delayUntilStep,
  emailStep,
  smsStep,
  pushStep,
  webhookStep,
  splitStep,
  randomSplitStep,
  waitForEventStep,
  updateProfileStep,
  exitStep,
]);
export type Step = z.infer<typeof step>;
export type StepOf<T extends Step['type']> = Extract<Step, { type: T }>;
export type Channel = 'email' | 'sms' | 'push';

export const flowStatus = z.enum(['draft', 'live', 'paused', 'archived']);
export type FlowStatus = z.infer<typeof flowStatus>;

export const reentry = z.discriminatedUnion('mode', [
  /** Default: whenever the contact is not already in the flow. */
  z.strictObject({ mode: z.literal('when_not_in_flow') }),
  z.strictObject({ mode: z.literal('once') }),
  z.strictObject({ mode: z.literal('once_per'), period: duration }),
]);
export type Reentry = z.infer<typeof reentry>;

export const goal = z.strictObject({
  event: eventName.default(EVENTS.orderCompleted),
  where: z.array(propertyCondition).optional(),
  /** End the journey (reason "goal") when the contact converts. */
  exitOnGoal: z.boolean().default(false),
});

const DEFAULT_QUIET = { from: '21:00', to: '09:00' };

export const flowPriority = z.number().int().min(1).max(100);
export const whenCapped = z.enum(['skip', 'wait']);
export type WhenCapped = z.infer<typeof whenCapped>;
/** The control share, above 0 and below 1 (0.1: one contact in ten, chosen by a hash, receives nothing). */
export const holdout = z.strictObject({ share: z.number().gt(0).lt(1) });
export type Holdout = z.infer<typeof holdout>;

/** The shortest entry window: clients queue events for seconds (batches, mobile retries). */
export const MIN_ENTRY_WINDOW_MS = 60_000;
/** How long before its receipt an event may have happened and still start the flow (flows/entry-time.ts). */
export const entryWindow = duration.refine((text) => (parseDuration(text) ?? 0) >= MIN_ENTRY_WINDOW_MS, {
  message: 'an entry window is at least "1 minute"',
});

/** What a client sends to create or replace a flow (`PUT /v1/flows/:id`). */
export const flowInput = z.strictObject({
  /** Optional in the body; when given it must match the URL. */
  id: slug.optional(),
  /** Optional optimistic-concurrency check: the version the client last read. */
  version: z.number().int().positive().optional(),
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  status: flowStatus.default('draft'),
  trigger,
  /** Flow filters: the journey ends as soon as one of these holds (checked at every step). */
  exitWhen: z.array(condition).default([]),
  goal: goal.default({ event: EVENTS.orderCompleted, exitOnGoal: false }),
  reentry: reentry.default({ mode: 'when_not_in_flow' }),
  /**
   * An event that happened longer than this before it was received is history: it starts no
   * journey (still feeding profiles and segments). No default here (as for requireSubscribed):
   * "1 day" applies where it is read (flows/entry-time.ts).
   */
  entryWindow: entryWindow.optional(),
  /** A trigger property that keys the journey: one journey per contact and value (a cart id). */
  journeyKey: z.string().min(1).max(200).optional(),
  /** Per channel, the daily window in which no marketing message goes out (it waits); null: none. */
  quietHours: z
    .strictObject({
      email: quietWindow.nullable().default(null),
      sms: quietWindow.nullable().default(DEFAULT_QUIET),
      push: quietWindow.nullable().default(DEFAULT_QUIET),
    })
    .default({ email: null, sms: DEFAULT_QUIET, push: DEFAULT_QUIET }),
  /** Skip a marketing message when the contact got one on that channel within `hours`. */
  smartSending: z
    .strictObject({ enabled: z.boolean().default(true), hours: z.number().min(0).max(720).default(16) })
    .default({ enabled: true, hours: 16 }),
  /** Our own open pixel and click redirects in this flow's emails (for set-ups without provider tracking). */
  tracking: z
    .strictObject({ opens: z.boolean().default(false), clicks: z.boolean().default(false) })
    .default({ opens: false, clicks: false }),
  /** When the contact unsubscribes mid-journey: skip the remaining marketing emails (default) or leave the flow. */
  onUnsubscribe: z.enum(['skip', 'exit']).default('skip'),
  /**
   * Marketing messages only to contacts `subscribed` on the channel, whatever CONSENT_EMAIL
   * says. No default: flows saved before it keep their stored definition (and version) as is.
   */
  requireSubscribed: z.boolean().optional(),
  steps: z.array(step).min(1).max(200),
  // Pressure and proof (audiences/frequency-cap.ts, audiences/holdout.ts). No defaults here, as
  // for requireSubscribed: flows saved before these fields keep their stored definition and version;
  // the defaults (priority 50, whenCapped "skip", no holdout) are applied where they are read.
  /**
   * 1-100: under the frequency cap a message counts only messages of its own priority or higher (default 50; campaigns
   * are 0).
   */
  priority: flowPriority.optional(),
  /** A marketing message over the frequency cap: `skip` it (default) or `wait` until the cap allows it. */
  whenCapped: whenCapped.optional(),
  /** A sticky control group that enters but receives no marketing message: `{ share: 0.1 }`. */
  holdout: holdout.optional(),
});
export type FlowInput = z.input<typeof flowInput>;
type ParsedFlow = z.output<typeof flowInput>;

/** A stored flow version: what a journey carries as its snapshot. */
export type FlowDefinition = Omit<ParsedFlow, 'id' | 'version'> & { id: string; version: number };
