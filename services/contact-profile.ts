/**
 * A contact as `GET /v1/contacts/:id` shows it: the profile, consent per channel, the lists
 * and segments it is in now, and its computed attributes. An id merged into another contact
 * (an anonymous visitor who logged in) shows that contact.
 */
import { consentRecordsOf } from '../db/consent';
import { canonicalContactId } from '../db/contact-merge';
import { contactMemberships, tableExists, type Membership } from '../db/contact-search';
import { getStats, type ContactStats } from '../db/contact-stats';
import { getContact, type Contact } from '../db/contacts';
import type { Queryable } from '../db/pool';

const CHANNELS = ['email', 'sms', 'push'] as const;

export interface ConsentState {
  status: string;
  /** Everything else the consent module keeps (source, time, ip, user agent…). */
  [detail: string]: unknown;
}

export interface ContactProfile extends Contact {
  /** Per channel; `never_asked` when nothing was recorded. Null until the consent module is installed. */
  consent: Record<(typeof CHANNELS)[number], ConsentState> | null;
  /** Null until the lists (segments) module is installed. */
  lists: Membership[] | null;
  segments: Membership[] | null;
  computed: ContactStats;
}

async function consentOf(q: Queryable, contactId: string): Promise<ContactProfile['consent']> {
  if (!(await tableExists(q, 'contact_consent'))) return null;
  const rows = await consentRecordsOf(q, contactId);
  const of = (channel: string): ConsentState =>
    rows.find((r) => r.channel === channel)?.state ?? { status: 'never_asked' };
  return { email: of('email'), sms: of('sms'), push: of('push') };
}

export async function contactProfile(q: Queryable, id: string): Promise<ContactProfile | undefined> {
  const contactId = await canonicalContactId(q, id);
  const contact = await getContact(q, contactId);
  if (!contact) return undefined;
  const [consent, lists, segments, computed] = await Promise.all([
    consentOf(q, contactId),
    contactMemberships(q, contactId, 'list'),
    contactMemberships(q, contactId, 'segment'),
    getStats(q, contactId),
  ]);
  return { ...contact, consent, lists, segments, computed };
}
