/** Loading what conditions need from Postgres: the contact's profile and its relevant events. */
import { getContact, type Contact } from '../db/contacts';
import { recordedConsentOf } from '../db/consent';
import { eventsSince } from '../db/events';
import { listIdsOf } from '../db/lists';
import type { Queryable } from '../db/pool';
import { currentSegmentsOf } from '../db/segments';
import { answerEventConditions } from '../db/conditions';
import {
  audiencesIn,
  earliestEventTime,
  eventConditionKey,
  eventConditionsIn,
  eventNamesIn,
  withTriggerValues,
  type EventFacts,
  type Facts,
} from '../flows/conditions';
import type { Condition } from '../flows/schema';
import { contactProfile } from '../sending/render-context';

/** What profile conditions see of a contact: what templates see (sending/render-context.ts). */
export function profileOf(contact: Contact | undefined): Record<string, unknown> {
  return contactProfile(contact);
}

/**
 * `now` is the journey's time; the later of it and the clock is used so an event stored a
 * moment after the activity was scheduled still counts.
 */
export async function loadFacts(
  db: Queryable,
  contactId: string,
  conditions: readonly Condition[],
  base: Omit<Facts, 'profile' | 'events'>,
  /** The contact when the caller has already loaded it. */
  known?: Contact | null,
): Promise<Facts> {
  const now = Math.max(base.now, Date.now());
  const facts: Facts = { ...base, now };
  facts.profile = profileOf(known === undefined ? await getContact(db, contactId) : (known ?? undefined));
  Object.assign(facts, await loadAudiences(db, contactId, conditions));
  // Event conditions are answered in SQL by the segments' compiler, over every matching event: a journey and a segment
  // give the same answer however long the history. Only what SQL cannot state the same way (engagement with this
  // journey's messages, a trigger value that is no plain value) is evaluated over loaded events.
  const leaves = [...new Map(conditions.flatMap(eventConditionsIn).map((c) => [eventConditionKey(c), c])).values()];
  const inSql = leaves.flatMap((c) => {
    const stated = withTriggerValues(c, facts.trigger);
    return stated ? [{ key: eventConditionKey(c), stated }] : [];
  });
  const from = facts.trigger ? Date.parse(facts.trigger.timestamp) : undefined;
  const answers = await answerEventConditions(
    db,
    contactId,
    inSql.map((c) => c.stated),
    now,
    from,
  );
  facts.eventAnswers = Object.fromEntries(inSql.map((c, i) => [c.key, answers[i]]));
  const answered = new Set(inSql.map((c) => c.key));
  const rest = conditions.flatMap(engagementOrUnanswered(answered));
  const names = [...new Set(rest.flatMap(eventNamesIn))];
  if (names.length === 0) return { ...facts, events: [] };
  const since = Math.min(...rest.map((c) => earliestEventTime(c, facts)));
  const stored = await eventsSince(
    db,
    contactId,
    names,
    Number.isFinite(since) ? new Date(since).toISOString() : '-infinity',
  );
  const events: EventFacts[] = stored.map((e) => ({
    name: e.name ?? '',
    properties: e.properties,
    timestamp: e.occurredAt,
  }));
  return { ...facts, events };
}

/** The parts of a condition still evaluated over loaded events: engagement, and event conditions SQL did not answer. */
const engagementOrUnanswered =
  (answered: ReadonlySet<string>) =>
  (condition: Condition): Condition[] => {
    if ('all' in condition) return condition.all.flatMap(engagementOrUnanswered(answered));
    if ('any' in condition) return condition.any.flatMap(engagementOrUnanswered(answered));
    if ('not' in condition) return engagementOrUnanswered(answered)(condition.not);
    if ('message' in condition) return [condition];
    if ('event' in condition) return answered.has(eventConditionKey(condition)) ? [] : [condition];
    return [];
  };

/**
 * Segment and list memberships and consent, loaded only when a condition asks (their repositories: db/segments.ts,
 * db/lists.ts, db/consent.ts).
 */
async function loadAudiences(
  db: Queryable,
  contactId: string,
  conditions: readonly Condition[],
): Promise<Pick<Facts, 'segments' | 'lists' | 'consent'>> {
  const wanted = conditions.map(audiencesIn);
  const out: Pick<Facts, 'segments' | 'lists' | 'consent'> = {};
  if (wanted.some((w) => w.segments)) out.segments = await currentSegmentsOf(db, contactId);
  if (wanted.some((w) => w.lists)) out.lists = await listIdsOf(db, contactId);
  if (wanted.some((w) => w.consent)) out.consent = await recordedConsentOf(db, contactId);
  return out;
}
