/**
 * Segment-spec payloads. Loose objects: real clients send `context`, `sentAt`,
 * `integrations`, `_metadata` and more, all of which are accepted and kept in `context`.
 */
import { z } from 'zod';
import { eventName } from '../../flows/schema';

export const MAX_EVENT_BYTES = 32 * 1024;

const id = z.union([z.string().trim().min(1).max(255), z.number()]).transform(String);
const record = z.record(z.string(), z.unknown());
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date-time');

const common = {
  userId: id.optional(),
  anonymousId: id.optional(),
  messageId: z.string().trim().min(1).max(255).optional(),
  timestamp: timestamp.optional(),
  context: z.looseObject({ traits: record.optional() }).optional(),
};

const identified = (value: { userId?: string; anonymousId?: string }) => value.userId !== undefined || value.anonymousId !== undefined;
const identityIssue = { message: 'userId or anonymousId is required', path: ['userId'] };

export const trackPayload = z
  .looseObject({ ...common, type: z.literal('track').optional(), event: eventName, properties: record.default({}) })
  .refine(identified, identityIssue);
export type TrackPayload = z.output<typeof trackPayload>;

export const identifyPayload = z
  .looseObject({ ...common, type: z.literal('identify').optional(), traits: record.default({}) })
  .refine(identified, identityIssue);
export type IdentifyPayload = z.output<typeof identifyPayload>;

export const batchEnvelope = z.looseObject({
  batch: z.array(z.looseObject({ type: z.string({ error: 'type is required ("track" or "identify")' }) })).min(1).max(1000),
  context: record.optional(),
});
