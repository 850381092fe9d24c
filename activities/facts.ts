/** Loading what conditions need from Postgres: the contact's profile and its relevant events. */
import { getContact, type Contact } from '../db/contacts';
import { eventsSince } from '../db/events';
import type { Queryable } from '../db/pool';
import { earliestEventTime, eventNamesIn, type EventFacts, type Facts } from '../flows/conditions';
import type { Condition } from '../flows/schema';

/** What profile conditions and templates see of a contact. */
export function profileOf(contact: Contact | undefined): Record<string, unknown> {
  if (!contact) return {};
  return { ...contact.traits, id: contact.id, email: contact.email, phone: contact.phone, created_at: contact.createdAt };
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
  const names = [...new Set(conditions.flatMap(eventNamesIn))];
  if (names.length === 0) return { ...facts, events: [] };
  const from = Math.min(...conditions.map((c) => earliestEventTime(c, facts)));
  const stored = await eventsSince(db, contactId, names, Number.isFinite(from) ? new Date(from).toISOString() : '-infinity');
  const events: EventFacts[] = stored.map((e) => ({ name: e.name ?? '', properties: e.properties, timestamp: e.occurredAt }));
  return { ...facts, events };
}
