/**
 * What the sending policy (sending/policy.ts) needs to know about contacts, read for a set of
 * them in one query (a campaign page: a thousand; a journey step: one), and the per-contact
 * lock under which a sender reads these facts, decides and claims its message.
 */
import type { ConsentStatus } from '../audiences/consent-policy';
import type { Queryable } from './pool';

export interface ContactSendFacts {
  contactId: string;
  email: string | null;
  phone: string | null;
  /** Push subscriptions of the contact. */
  pushSubscriptions: number;
  traits: Record<string, unknown>;
  consent: ConsentStatus;
  suppressed: boolean;
  lastSentAt: number | null;
  /** Counted marketing messages within the cap window, all channels (sending/policy.ts RecentMessage). */
  recent: { channel: string; at: number }[];
}

export interface FactsRequest {
  channel: 'email' | 'sms' | 'push';
  /** Only messages of this priority or higher count for smart sending and the cap. */
  priority: number;
  /** Decision time (ms): the cap window ends here; live claims count as sent now. */
  now: number;
  /** Transactional messages: only suppressions of scope "all" apply, and nothing is counted. */
  transactional?: boolean;
  /** The cap window (ms) whose messages `recent` lists; 0: not read (no cap set: a campaign page saves the work). */
  capWindowMs: number;
  /** false: `lastSentAt` not read (null): the sender has smart sending off, the only rule that reads it. */
  lastSent?: boolean;
}

/**
 * A marketing message counts once it is sent, or while it is being sent: a live claim, or a dead
 * one already handed to the provider (it may have gone). A dead claim never handed went nowhere.
 */
const COUNTED = `m.contact_id = c.id AND NOT m.transactional AND m.priority >= $3 AND m.channel <> 'webhook'
  AND (m.status = 'sent' OR (m.status = 'sending' AND (m.lease_until > now() OR m.provider_called_at IS NOT NULL)))`;
const COUNTED_AT = "CASE WHEN m.status = 'sending' THEN $4::timestamptz ELSE m.sent_at END";

/** Facts of each contact found (unknown contacts are missing from the map). */
export async function loadSendFacts(
  q: Queryable,
  contactIds: string[],
  req: FactsRequest,
): Promise<Map<string, ContactSendFacts>> {
  if (contactIds.length === 0) return new Map();
  const address = "CASE $2 WHEN 'sms' THEN c.phone WHEN 'email' THEN c.email END";
  const { rows } = await q.query<{
    id: string;
    email: string | null;
    phone: string | null;
    traits: Record<string, unknown>;
    consent: ConsentStatus | null;
    push: number;
    suppressed: boolean;
    last_sent_at: Date | null;
    recent: { channel: string; at: string }[] | null;
  }>(
    `SELECT c.id, c.email, c.phone, c.traits, cc.status AS consent,
            CASE WHEN $2 = 'push' THEN (SELECT count(*)::int FROM push_subscriptions p WHERE p.contact_id = c.id) ELSE 0 END AS push,
            EXISTS (SELECT 1 FROM suppressions s, LATERAL (SELECT ${address}) AS a(address)
                     WHERE s.channel = $2 AND (NOT $5 OR s.scope = 'all')
                       AND s.address IN (lower(a.address), suppression_hash(a.address))) AS suppressed,
            CASE WHEN NOT $5 AND $7 THEN (SELECT max(${COUNTED_AT}) FROM messages m WHERE ${COUNTED} AND m.channel = $2
                                     AND (m.status = 'sending' OR m.sent_at <= $4)) END AS last_sent_at,
            CASE WHEN $6 > 0 AND NOT $5 THEN (
              SELECT json_agg(json_build_object('channel', m.channel, 'at', ${COUNTED_AT}))
                FROM messages m WHERE ${COUNTED}
                 AND (m.status = 'sending' OR (m.sent_at > $4::timestamptz - $6 * interval '1 millisecond' AND m.sent_at <= $4))
            ) END AS recent
       FROM contacts c
       LEFT JOIN contact_consent cc ON cc.contact_id = c.id AND cc.channel = $2
      WHERE c.id = ANY($1::text[])`,
    [
      contactIds,
      req.channel,
      req.priority,
      new Date(req.now),
      req.transactional ?? false,
      req.capWindowMs,
      req.lastSent ?? true,
    ],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      {
        contactId: r.id,
        email: r.email,
        phone: r.phone,
        pushSubscriptions: r.push,
        traits: r.traits,
        consent: r.consent ?? 'never_asked',
        suppressed: r.suppressed,
        lastSentAt: r.last_sent_at?.getTime() ?? null,
        recent: (r.recent ?? []).map((m) => ({ channel: m.channel, at: new Date(m.at).getTime() })),
      },
    ]),
  );
}

/** Where a contact gets a channel, as message rows record it. */
export function addressOf(facts: ContactSendFacts, channel: FactsRequest['channel']): string | null {
  if (channel === 'email') return facts.email;
  if (channel === 'sms') return facts.phone;
  const n = facts.pushSubscriptions;
  return n > 0 ? `web push (${n} subscription${n > 1 ? 's' : ''})` : null;
}

/** Contacts share this many locks: enough that unrelated contacts rarely wait on each other. */
const SEND_LOCK_BUCKETS = 1024;
/** The first key of the two-key advisory lock: keeps these apart from Parcours's other advisory locks. */
const SEND_LOCK_SPACE = 27_001;

/**
 * Serialises senders per contact until the caller's transaction ends: read facts, decide and
 * claim under it, and a second sender to the same contact sees the first one's claim. Buckets
 * are taken in ascending order, so two pages with overlapping contacts never deadlock.
 */
export async function lockContactSends(q: Queryable, contactIds: string[]): Promise<void> {
  if (contactIds.length === 0) return;
  await q.query(
    `SELECT count(pg_advisory_xact_lock($2::int, b::int)) FROM (
       SELECT DISTINCT abs(hashtext(id) % $3::int) AS b FROM unnest($1::text[]) AS id ORDER BY 1) buckets`,
    [contactIds, SEND_LOCK_SPACE, SEND_LOCK_BUCKETS],
  );
}
