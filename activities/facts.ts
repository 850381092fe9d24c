/** Loading what conditions need from Postgres: the contact's profile and its relevant events. */
import { getContact, type Contact } from '../db/contacts';
import { eventsSince } from '../db/events';
import type { Queryable } from '../db/pool';
import { currentSegmentsOf } from '../db/segments';
import { audiencesIn, earliestEventTime, eventNamesIn, type EventFacts, type Facts } from '../flows/conditions';
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
  const names = [...new Set(conditions.flatMap(eventNamesIn))];
  if (names.length === 0) return { ...facts, events: [] };
  const from = Math.min(...conditions.map((c) => earliestEventTime(c, facts)));
  const stored = await eventsSince(
    db,
    contactId,
    names,
    Number.isFinite(from) ? new Date(from).toISOString() : '-infinity',
  );
  const events: EventFacts[] = stored.map((e) => ({
    name: e.name ?? '',
    properties: e.properties,
    timestamp: e.occurredAt,
  }));
  return { ...facts, events };
}

/**
 * Segment and list memberships and consent, loaded only when a condition asks (list_memberships
 * and contact_consent belong to the lists and consent parts of issue 9).
 */
async function loadAudiences(
  db: Queryable,
  contactId: string,
  conditions: readonly Condition[],
): Promise<Pick<Facts, 'segments' | 'lists' | 'consent'>> {
  const wanted = conditions.map(audiencesIn);
  const out: Pick<Facts, 'segments' | 'lists' | 'consent'> = {};
  if (wanted.some((w) => w.segments)) out.segments = await currentSegmentsOf(db, contactId);
  if (wanted.some((w) => w.lists)) {
    const { rows } = await db.query<{ list_id: string }>(
      'SELECT list_id FROM list_memberships WHERE contact_id = $1 AND left_at IS NULL',
      [contactId],
    );
    out.lists = rows.map((r) => r.list_id);
  }
  if (wanted.some((w) => w.consent)) {
    const { rows } = await db.query<{ channel: string; status: string }>(
      'SELECT channel, status FROM contact_consent WHERE contact_id = $1',
      [contactId],
    );
    out.consent = Object.fromEntries(rows.map((r) => [r.channel, r.status]));
  }
  return out;
}
