/**
 * Segment-spec payloads. Loose objects: real clients send `context`, `sentAt`,
 * `integrations`, `_metadata` and more, all of which are accepted and kept in `context`.
 */
import { DateTime } from 'luxon';
import { z } from 'zod';
import { eventName } from '../../flows/schema';

export const MAX_EVENT_BYTES = 32 * 1024;

/**
 * Ids as strings or numbers, kept exactly as sent: the body parser leaves integers past 2^53
 * as their decimal text, so a number here is exact and becomes its decimal string.
 */
const id = z.union([z.string().trim().min(1).max(255), z.number()]).transform(String);
const record = z.record(z.string(), z.unknown());
/**
 * ISO-8601 (or SQL-style "2026-03-01 10:00:00") between years 1 and 9999, normalised to UTC
 * ISO: what Postgres and JavaScript's Date both read the same way. A date outside that range is
 * a client bug (a timestamp in microseconds, a zeroed struct), refused here rather than by SQL.
 */
export const timestamp = z.string().transform((text, ctx) => {
  const parsed = [DateTime.fromISO(text, { zone: 'utc' }), DateTime.fromSQL(text, { zone: 'utc' })].find((d) => d.isValid)?.toUTC();
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date-time, e.g. "2026-03-01T10:00:00Z"' });
    return z.NEVER;
  }
  if (parsed.year < 1 || parsed.year > 9999) {
    ctx.addIssue({ code: 'custom', message: `year ${parsed.year} is outside 1-9999` });
    return z.NEVER;
  }
  return parsed.toISO()!;
});

const common = {
  userId: id.optional(),
  anonymousId: id.optional(),
  messageId: id.optional(),
  timestamp: timestamp.optional(),
  /** When the client sent the call: Segment corrects `timestamp` by receivedAt - sentAt. */
  sentAt: timestamp.optional(),
  context: z.looseObject({ traits: record.optional() }).optional(),
};

const identified = (value: { userId?: string; anonymousId?: string }) => value.userId !== undefined || value.anonymousId !== undefined;
const identityIssue = { message: 'userId or anonymousId is required', path: ['userId'] };
/** Page and screen names are free text in Segment; bounded like event names. */
const label = z.string().max(200);

export const trackPayload = z
  .looseObject({ ...common, type: z.literal('track').optional(), event: eventName, properties: record.default({}) })
  .refine(identified, identityIssue);
export type TrackPayload = z.output<typeof trackPayload>;

export const identifyPayload = z
  .looseObject({ ...common, type: z.literal('identify').optional(), traits: record.default({}) })
  .refine(identified, identityIssue);
export type IdentifyPayload = z.output<typeof identifyPayload>;

export const pagePayload = z
  .looseObject({ ...common, type: z.literal('page').optional(), name: label.optional(), category: label.optional(), properties: record.default({}) })
  .refine(identified, identityIssue);
export type PagePayload = z.output<typeof pagePayload>;

export const screenPayload = z
  .looseObject({ ...common, type: z.literal('screen').optional(), name: label.optional(), category: label.optional(), properties: record.default({}) })
  .refine(identified, identityIssue);
export type ScreenPayload = z.output<typeof screenPayload>;

export const groupPayload = z
  .looseObject({ ...common, type: z.literal('group').optional(), groupId: id, traits: record.default({}) })
  .refine(identified, identityIssue);
export type GroupPayload = z.output<typeof groupPayload>;

/** `previousId` (usually the anonymous id) becomes `userId`: the two contacts are one. */
export const aliasPayload = z.looseObject({ ...common, type: z.literal('alias').optional(), userId: id, previousId: id });
export type AliasPayload = z.output<typeof aliasPayload>;

export const callSchemas = {
  track: trackPayload,
  identify: identifyPayload,
  page: pagePayload,
  screen: screenPayload,
  group: groupPayload,
  alias: aliasPayload,
} as const;

export const batchEnvelope = z.looseObject({
  /** Each item is validated on its own (an invalid one is reported, the others are stored). */
  batch: z.array(z.unknown()).min(1).max(1000),
  context: record.optional(),
  sentAt: timestamp.optional(),
});
