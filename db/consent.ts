/**
 * Consent per contact and channel. The table holds the current state; every change is also a
 * stored `Consent Changed` event, written in the same transaction, so the history is provable
 * and flows trigger on it like on any other event (the router loop routes it).
 */
import {
  CONSENT_CHANGED_EVENT,
  consentFromTraits,
  consentFromWriteKey,
  WRITE_KEY_CONSENT_SOURCE,
  suppressionAfter,
  type ConsentChannel,
  type ConsentStatus,
  type WriteKeyRequest,
} from '../audiences/consent-policy';
import type { ProvenConsent } from '../connectors/segment';
import { upsertContact } from './contacts';
import { insertEvent, type StoredEvent } from './events';
import { liftSuppression, suppress } from './messages';
import type { Queryable } from './pool';

export interface ChannelConsent {
  status: ConsentStatus;
  /** How it was given or withdrawn: api, double_opt_in, preference_page, unsubscribe, spamreport, identify… */
  source: string | null;
  changedAt: string | null;
  ip: string | null;
  userAgent: string | null;
}

interface ConsentRow {
  channel: ConsentChannel;
  status: ConsentStatus;
  source: string;
  ip: string | null;
  user_agent: string | null;
  changed_at: Date;
  changes: number;
}

const NEVER_ASKED: ChannelConsent = { status: 'never_asked', source: null, changedAt: null, ip: null, userAgent: null };

const toConsent = (r: ConsentRow): ChannelConsent => ({
  status: r.status,
  source: r.source,
  changedAt: r.changed_at.toISOString(),
  ip: r.ip,
  userAgent: r.user_agent,
});

/** Every channel's consent; a channel never recorded is `never_asked`. */
export async function consentOf(q: Queryable, contactId: string): Promise<Record<ConsentChannel, ChannelConsent>> {
  const { rows } = await q.query<ConsentRow>('SELECT * FROM contact_consent WHERE contact_id = $1', [contactId]);
  const out = { email: NEVER_ASKED, sms: NEVER_ASKED, push: NEVER_ASKED };
  for (const r of rows) out[r.channel] = toConsent(r);
  return out;
}

/**
 * Every recorded channel's row as the consent module keeps it (status, source, time, ip, user agent…, its column
 * names), for the contact's profile: a channel never recorded has none.
 */
export async function consentRecordsOf(
  q: Queryable,
  contactId: string,
): Promise<{ channel: string; state: { status: string; [detail: string]: unknown } }[]> {
  const { rows } = await q.query<{ channel: string; state: { status: string; [detail: string]: unknown } }>(
    "SELECT channel, to_jsonb(c) - 'contact_id' - 'channel' AS state FROM contact_consent c WHERE contact_id = $1",
    [contactId],
  );
  return rows;
}

export async function consentStatusOf(
  q: Queryable,
  contactId: string,
  channel: ConsentChannel,
): Promise<ConsentStatus> {
  const { rows } = await q.query<{ status: ConsentStatus }>(
    'SELECT status FROM contact_consent WHERE contact_id = $1 AND channel = $2',
    [contactId, channel],
  );
  return rows[0]?.status ?? 'never_asked';
}

/**
 * The status of each channel the contact has a consent row for, and no other: what a `{ consent }` condition reads
 * (flows/conditions.ts treats a channel absent here as never asked).
 */
export async function recordedConsentOf(q: Queryable, contactId: string): Promise<Record<string, string>> {
  const { rows } = await q.query<{ channel: string; status: string }>(
    'SELECT channel, status FROM contact_consent WHERE contact_id = $1',
    [contactId],
  );
  return Object.fromEntries(rows.map((r) => [r.channel, r.status]));
}

export interface ConsentChange {
  contactId: string;
  channel: ConsentChannel;
  status: ConsentStatus;
  source: string;
  ip?: string | null;
  userAgent?: string | null;
  /** When it happened (ISO); default now. */
  occurredAt?: string;
  /**
   * The address the decision was given for, when it is not (or not yet) the contact's own: the recipient of the
   * message unsubscribed from, the number that texted STOP, the email of an imported row.
   */
  address?: string | null;
  /** The stored event's context (where the decision came from, e.g. an import). */
  context?: Record<string, unknown>;
  /**
   * What proves the decision beyond source, time, ip and user agent (a shop's opt-in level, the page a browser sent
   * it from): kept in the `Consent Changed` event's properties as `proof`.
   */
  proof?: Record<string, unknown>;
  /**
   * The decision carries its own time (a shop's `consent_updated_at`): it is recorded only when it is newer than the
   * decision recorded now, so a late or stale copy (an order still carrying the consent of before an unsubscribe)
   * changes nothing.
   */
  onlyIfNewer?: boolean;
}

export type ConsentChangeResult =
  | { changed: false; status: ConsentStatus }
  | { changed: true; status: ConsentStatus; previous: ConsentStatus; event: StoredEvent };

/**
 * The one way a consent decision is recorded, inside the caller's transaction: the state row (locked, so concurrent
 * changes apply one after the other), its `Consent Changed` event, and what the decision implies for the address's
 * suppressions (audiences/consent-policy.ts `suppressionAfter`). The same status again stores nothing (a retried
 * request is harmless) but still leaves the address as the rule says, so an opt-out recorded before its address was
 * known is suppressed when it comes again. The contact is created when missing, as ingest would.
 */
export async function writeConsent(tx: Queryable, change: ConsentChange): Promise<ConsentChangeResult> {
  const contact = await upsertContact(tx, change.contactId);
  await tx.query(
    "INSERT INTO contact_consent (contact_id, channel, status, source) VALUES ($1, $2, 'never_asked', 'default') ON CONFLICT DO NOTHING",
    [change.contactId, change.channel],
  );
  const { rows } = await tx.query<ConsentRow>(
    'SELECT * FROM contact_consent WHERE contact_id = $1 AND channel = $2 FOR UPDATE',
    [change.contactId, change.channel],
  );
  const current = rows[0];
  const occurredAt = change.occurredAt ?? new Date().toISOString();
  if (change.onlyIfNewer && current.changes > 0 && current.changed_at.getTime() >= Date.parse(occurredAt))
    return { changed: false, status: current.status };
  const own = change.channel === 'email' ? contact.email : change.channel === 'sms' ? contact.phone : null;
  await applySuppression(tx, change, change.address || own);
  if (current.status === change.status) return { changed: false, status: current.status };

  const changes = current.changes + 1;
  await tx.query(
    'UPDATE contact_consent SET status = $3, source = $4, ip = $5, user_agent = $6, changed_at = $7, changes = $8 WHERE contact_id = $1 AND channel = $2',
    [
      change.contactId,
      change.channel,
      change.status,
      change.source,
      change.ip ?? null,
      change.userAgent ?? null,
      occurredAt,
      changes,
    ],
  );

  const { event } = await insertEvent(
    tx,
    {
      type: 'track',
      name: CONSENT_CHANGED_EVENT,
      // Deterministic: the n-th change of this channel of this contact.
      messageId: `consent:${change.contactId}:${change.channel}:${changes}`,
      contactId: change.contactId,
      occurredAt,
      properties: {
        channel: change.channel,
        status: change.status,
        previous: current.status,
        source: change.source,
        ...(change.ip ? { ip: change.ip } : {}),
        ...(change.userAgent ? { user_agent: change.userAgent } : {}),
        ...(change.proof ? { proof: change.proof } : {}),
      },
      context: change.context ?? {},
    },
    { routeWithinMs: 0 },
  );
  return { changed: true, status: change.status, previous: current.status, event };
}

async function applySuppression(
  tx: Queryable,
  change: Pick<ConsentChange, 'channel' | 'status' | 'source'>,
  address: string | null | undefined,
): Promise<void> {
  if (!address || change.channel === 'push') return;
  const rule = suppressionAfter(change);
  if (rule.kind === 'suppress') await suppress(tx, change.channel, address, rule.reason, rule.scope);
  if (rule.kind === 'lift') await liftSuppression(tx, change.channel, address, rule.scope);
}

/**
 * The stored `Consent Changed` events of a contact in the order they were applied (a provider may report an older time
 * late): the proof of each change.
 */
export async function consentHistory(
  q: Queryable,
  contactId: string,
  limit = 500,
): Promise<{ eventId: number; occurredAt: string; properties: Record<string, unknown> }[]> {
  const { rows } = await q.query<{ id: number; occurred_at: Date; properties: Record<string, unknown> }>(
    'SELECT id, occurred_at, properties FROM events WHERE contact_id = $1 AND name = $2 ORDER BY id LIMIT $3',
    [contactId, CONSENT_CHANGED_EVENT, limit],
  );
  return rows.map((r) => ({ eventId: r.id, occurredAt: r.occurred_at.toISOString(), properties: r.properties }));
}

/**
 * Contact merge (anonymous → known): for each channel the more recent decision wins, and the
 * anonymous contact's rows go. For db/contact-merge.ts `moveContact`.
 */
export async function moveConsent(tx: Queryable, fromId: string, toId: string): Promise<void> {
  await tx.query(
    `INSERT INTO contact_consent (contact_id, channel, status, source, ip, user_agent, changed_at, changes)
     SELECT $2, channel, status, source, ip, user_agent, changed_at, changes FROM contact_consent WHERE contact_id = $1
     ON CONFLICT (contact_id, channel) DO UPDATE SET status = EXCLUDED.status, source = EXCLUDED.source, ip = EXCLUDED.ip,
       user_agent = EXCLUDED.user_agent, changed_at = EXCLUDED.changed_at, changes = GREATEST(contact_consent.changes, EXCLUDED.changes) + 1
     WHERE EXCLUDED.changed_at > contact_consent.changed_at AND EXCLUDED.status <> 'never_asked'`,
    [fromId, toId],
  );
  await tx.query('DELETE FROM contact_consent WHERE contact_id = $1', [fromId]);
}

/**
 * The id of the contact's latest `Consent Changed` event on this channel (the pending request a confirmation belongs
 * to).
 */
export async function lastConsentEventId(
  q: Queryable,
  contactId: string,
  channel: ConsentChannel,
): Promise<number | undefined> {
  const { rows } = await q.query<{ id: number }>(
    "SELECT id FROM events WHERE contact_id = $1 AND name = $2 AND properties->>'channel' = $3 ORDER BY id DESC LIMIT 1",
    [contactId, CONSENT_CHANGED_EVENT, channel],
  );
  return rows[0]?.id;
}

/**
 * A change that arrives by address rather than by contact (an SMS keyword: STOP, START): the address is suppressed or
 * lifted as the rule says even when no contact has it yet, and the change is applied to every contact with that
 * address, each with its own event. Returns the events to route.
 */
export async function writeConsentByAddress(
  tx: Queryable,
  change: Omit<ConsentChange, 'contactId' | 'address'> & { address: string },
): Promise<StoredEvent[]> {
  const column = change.channel === 'email' ? 'email' : change.channel === 'sms' ? 'phone' : undefined;
  if (!column) return [];
  await applySuppression(tx, change, change.address);
  const value = change.channel === 'email' ? change.address.toLowerCase() : change.address;
  const { rows } = await tx.query<{ id: string }>(`SELECT id FROM contacts WHERE ${column} = $1 ORDER BY id`, [value]);
  const events: StoredEvent[] = [];
  for (const { id } of rows) {
    const result = await writeConsent(tx, { ...change, contactId: id });
    if (result.changed) events.push(result.event);
  }
  return events;
}

/**
 * Consent carried by identify traits (`consent: { email: "subscribed", sms: false }`), applied in
 * the identify's transaction. For api/events/ingest.ts: call it only for an identify that was not
 * a duplicate, so a retried request cannot undo a decision taken since. With an admin key (or from a
 * connector), `pending` from traits is recorded as is (an outside double opt-in); only the consent API
 * sends our confirmation email. With a write key (`writeKey` given), the consent policy decides what is
 * recorded (audiences/consent-policy.ts `consentFromWriteKey`): an opt-in becomes `pending` with the
 * request as proof, and the caller sends the confirmation email of an email `pending` it returns.
 */
export async function applyTraitConsent(
  tx: Queryable,
  contactId: string,
  traits: Record<string, unknown>,
  occurredAt: string,
  /** The connector that sent the identify (e.g. shopify), else `identify`. */
  source = 'identify',
  writeKey?: WriteKeyRequest,
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (const [channel, asked] of Object.entries(consentFromTraits(traits)) as [ConsentChannel, ConsentStatus][]) {
    const decision = writeKey
      ? consentFromWriteKey(channel, asked, await consentStatusOf(tx, contactId, channel))
      : undefined;
    if (writeKey && !decision) continue;
    const result = await writeConsent(
      tx,
      writeKey
        ? {
            contactId,
            channel,
            status: decision!.status,
            source: WRITE_KEY_CONSENT_SOURCE,
            occurredAt,
            ip: writeKey.ip ?? null,
            userAgent: writeKey.userAgent ?? null,
            proof: { asked, ...writeKey.proof },
          }
        : { contactId, channel, status: asked, source, occurredAt },
    );
    if (result.changed) events.push(result.event);
  }
  return events;
}

/**
 * A connector's consent decisions, in the transaction that stores its call: each recorded only when it is newer than
 * what is recorded (a webhook carries the consent as it was when it was sent). The store writes the call's profile
 * first, so the decision applies to the address the platform sent with it.
 */
export async function applyProvenConsent(
  tx: Queryable,
  contactId: string,
  decisions: ProvenConsent[],
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (const d of decisions) {
    const result = await writeConsent(tx, {
      contactId,
      channel: d.channel,
      status: d.status,
      source: d.source,
      occurredAt: d.decidedAt,
      proof: d.proof,
      onlyIfNewer: true,
    });
    if (result.changed) events.push(result.event);
  }
  return events;
}
