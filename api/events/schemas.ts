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
/** What clients send nearly always: `2026-03-01T10:00:00.123Z`, or with `+02:00`, or no zone (UTC). */
const PLAIN_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * The plain ISO forms read without luxon (which costs ~0.1 ms a call, most of a batch item's
 * validation): the same UTC ISO text luxon gives, or undefined for anything else (other forms,
 * impossible dates, years outside 1000-9999), which luxon then reads and judges as before.
 */
export function fastIsoUtc(text: string): string | undefined {
  const m = PLAIN_ISO.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (year < 1000 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  let offsetMinutes = 0;
  if (m[8] !== undefined && m[8] !== 'Z') {
    const [oh, om] = [Number(m[8].slice(1, 3)), Number(m[8].slice(4, 6))];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  // Date.UTC rolls Feb 30 over into March: such a date is not what was written.
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day)
    return undefined;
  const utc = new Date(local.getTime() - offsetMinutes * 60_000);
  const utcYear = utc.getUTCFullYear();
  return utcYear >= 1000 && utcYear <= 9999 ? utc.toISOString() : undefined;
}

/**
 * ISO-8601 (or SQL-style "2026-03-01 10:00:00") between years 1 and 9999, normalised to UTC
 * ISO: what Postgres and JavaScript's Date both read the same way. A date outside that range is
 * a client bug (a timestamp in microseconds, a zeroed struct), refused here rather than by SQL.
 */
export const timestamp = z.string().transform((text, ctx) => {
  const fast = fastIsoUtc(text);
  if (fast !== undefined) return fast;
  const parsed = [DateTime.fromISO(text, { zone: 'utc' }), DateTime.fromSQL(text, { zone: 'utc' })]
    .find((d) => d.isValid)
    ?.toUTC();
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
  /** RudderStack's SDKs stamp calls here (and leave `timestamp` to the caller). */
  originalTimestamp: timestamp.optional(),
  /** When the client sent the call: Segment corrects `timestamp` by receivedAt - sentAt. */
  sentAt: timestamp.optional(),
  context: z
    .looseObject({
      traits: record.optional(),
      /** The call is history (an import of the past): stored, counted, and it starts no flow. */
      historical: z.boolean().optional(),
    })
    .optional(),
};

const identified = (value: { userId?: string; anonymousId?: string }) =>
  value.userId !== undefined || value.anonymousId !== undefined;
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
  .looseObject({
    ...common,
    type: z.literal('page').optional(),
    name: label.optional(),
    category: label.optional(),
    properties: record.default({}),
  })
  .refine(identified, identityIssue);
export type PagePayload = z.output<typeof pagePayload>;

export const screenPayload = z
  .looseObject({
    ...common,
    type: z.literal('screen').optional(),
    name: label.optional(),
    category: label.optional(),
    properties: record.default({}),
  })
  .refine(identified, identityIssue);
export type ScreenPayload = z.output<typeof screenPayload>;

export const groupPayload = z
  .looseObject({ ...common, type: z.literal('group').optional(), groupId: id, traits: record.default({}) })
  .refine(identified, identityIssue);
export type GroupPayload = z.output<typeof groupPayload>;

/** `previousId` (usually the anonymous id) becomes `userId`: the two contacts are one. */
export const aliasPayload = z.looseObject({
  ...common,
  type: z.literal('alias').optional(),
  userId: id,
  previousId: id,
});
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

const isPlainRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** `id` for what passes it unchanged or as a number: undefined (absent), the id, or false (let zod judge). */
function plainId(value: unknown): string | undefined | false {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : false;
  return typeof value === 'string' && value.length >= 1 && value.length <= 255 && value.trim() === value
    ? value
    : false;
}

function plainTimestamp(value: unknown): string | undefined | false {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? (fastIsoUtc(value) ?? false) : false;
}

/**
 * A track call as well-behaved clients send it, checked without zod (a batch item's
 * validation was most of its cost): the same output as `trackPayload`, or undefined for
 * anything this does not vouch for (then zod parses it, and names what is wrong).
 */
export function plainTrack(item: Record<string, unknown>): TrackPayload | undefined {
  if (item.type !== undefined && item.type !== 'track') return undefined;
  if (typeof item.event !== 'string' || item.event.length < 1 || item.event.length > 200) return undefined;
  const properties = item.properties === undefined ? {} : item.properties;
  if (!isPlainRecord(properties)) return undefined;
  const context = item.context;
  if (
    context !== undefined &&
    (!isPlainRecord(context) ||
      (context.traits !== undefined && !isPlainRecord(context.traits)) ||
      (context.historical !== undefined && typeof context.historical !== 'boolean'))
  )
    return undefined;
  const userId = plainId(item.userId);
  const anonymousId = plainId(item.anonymousId);
  const messageId = plainId(item.messageId);
  const timestamp = plainTimestamp(item.timestamp);
  const originalTimestamp = plainTimestamp(item.originalTimestamp);
  const sentAt = plainTimestamp(item.sentAt);
  if (
    userId === false ||
    anonymousId === false ||
    messageId === false ||
    timestamp === false ||
    originalTimestamp === false ||
    sentAt === false
  )
    return undefined;
  if (userId === undefined && anonymousId === undefined) return undefined;
  const parsed: Record<string, unknown> = { ...item, event: item.event, properties };
  for (const [key, value] of Object.entries({ userId, anonymousId, messageId, timestamp, originalTimestamp, sentAt }))
    if (value !== undefined) parsed[key] = value;
  return parsed as TrackPayload;
}
