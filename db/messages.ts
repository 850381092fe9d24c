import type { SuppressionScope } from '../audiences/consent-policy';
import { CAMPAIGN_PRIORITY, DEFAULT_FLOW_PRIORITY } from '../audiences/frequency-cap';
import type { Queryable } from './pool';

export type Channel = 'email' | 'sms' | 'push' | 'webhook';
/**
 * `unknown`: an attempt may have reached the provider but we never learned its answer (not sent again when marketing).
 */
export type MessageStatus = 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped' | 'unknown';

export interface MessageRecord {
  id: string;
  journeyRunId: string;
  flowId: string;
  flowVersion: number;
  stepId: string;
  contactId: string;
  channel: Channel;
  transactional: boolean;
  recipient: string | null;
  provider: string | null;
  providerMessageId: string | null;
  status: MessageStatus;
  reason: string | null;
  content: Record<string, string> | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  /** Workflow id, trigger event id and step id: the same after a journey reset. Null on rows from before it existed. */
  sendKey: string | null;
  /** While status is "sending": the attempt holding the claim, and until when. */
  leaseUntil: string | null;
  leaseOwner: string | null;
  /**
   * From provider events: processed, delivered, deferred, bounce, dropped (SMS: sent, delivered, undelivered, failed).
   */
  deliveryStatus: string | null;
  deliveredAt: string | null;
  openedAt: string | null;
  clickedAt: string | null;
  bouncedAt: string | null;
  unsubscribedAt: string | null;
  /** Campaign messages (db/campaigns.ts): the campaign; null for journey messages. */
  campaignId?: string | null;
}

interface MessageRow {
  id: string;
  journey_run_id: string;
  flow_id: string;
  flow_version: number;
  step_id: string;
  contact_id: string;
  channel: Channel;
  transactional: boolean;
  recipient: string | null;
  provider: string | null;
  provider_message_id: string | null;
  status: MessageStatus;
  reason: string | null;
  content: Record<string, string> | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  send_key: string | null;
  lease_until: Date | null;
  lease_owner: string | null;
  delivery_status: string | null;
  delivered_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  bounced_at: Date | null;
  unsubscribed_at: Date | null;
  campaign_id?: string | null;
}

const toMessage = (r: MessageRow): MessageRecord => ({
  id: r.id,
  journeyRunId: r.journey_run_id,
  flowId: r.flow_id,
  flowVersion: r.flow_version,
  stepId: r.step_id,
  contactId: r.contact_id,
  channel: r.channel,
  transactional: r.transactional,
  recipient: r.recipient,
  provider: r.provider,
  providerMessageId: r.provider_message_id,
  status: r.status,
  reason: r.reason,
  content: r.content,
  attempts: r.attempts,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  sentAt: r.sent_at?.toISOString() ?? null,
  sendKey: r.send_key,
  leaseUntil: r.lease_until?.toISOString() ?? null,
  leaseOwner: r.lease_owner,
  deliveryStatus: r.delivery_status,
  deliveredAt: r.delivered_at?.toISOString() ?? null,
  openedAt: r.opened_at?.toISOString() ?? null,
  clickedAt: r.clicked_at?.toISOString() ?? null,
  bouncedAt: r.bounced_at?.toISOString() ?? null,
  unsubscribedAt: r.unsubscribed_at?.toISOString() ?? null,
  campaignId: r.campaign_id ?? null,
});

/** What identifies a journey step's message; the row's other fields describe its delivery. */
export type MessageKey = Pick<
  MessageRecord,
  'journeyRunId' | 'flowId' | 'flowVersion' | 'stepId' | 'contactId' | 'channel' | 'transactional'
> & { sendKey: string };

/**
 * A step's message, by its reset-proof key. A row written before keys existed is found by run
 * and step and given the key, so a retry of a journey that was running at upgrade still sees it.
 */
export async function findStepMessage(
  q: Queryable,
  key: Pick<MessageKey, 'sendKey' | 'journeyRunId' | 'stepId'>,
): Promise<MessageRecord | undefined> {
  const { rows } = await q.query<MessageRow>(
    `WITH legacy AS (
       UPDATE messages SET send_key = $1 WHERE journey_run_id = $2 AND step_id = $3 AND send_key IS NULL
         AND NOT EXISTS (SELECT 1 FROM messages WHERE send_key = $1)
       RETURNING *)
     SELECT * FROM legacy UNION ALL SELECT * FROM messages WHERE send_key = $1`,
    [key.sendKey, key.journeyRunId, key.stepId],
  );
  return rows[0] && toMessage(rows[0]);
}

/**
 * Claims the step's message for one attempt, right before the provider call: the row says
 * "sending" with a lease, and no other attempt may call the provider until the lease ends or
 * the attempt records its outcome. Undefined when the message is not claimable: sent, unknown,
 * or another attempt's lease is live (or, without `takeOver`, a dead attempt's lease is there:
 * its outcome must be settled first).
 */
export async function claimMessage(
  q: Queryable,
  key: MessageKey,
  attempt: {
    recipient: string;
    provider: string;
    content: Record<string, string>;
    owner: string;
    leaseMs: number;
    takeOver: boolean;
  },
): Promise<MessageRecord | undefined> {
  // Two first attempts racing on a fresh row: the loser may trip the older unique key
  // (journey_run_id, step_id) rather than the send_key arbiter; either way the other attempt holds it.
  const { rows } = await q
    .query<MessageRow>(
      `INSERT INTO messages (send_key, journey_run_id, flow_id, flow_version, step_id, contact_id, channel, transactional, recipient, provider, content,
                           status, attempts, lease_owner, lease_until)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'sending', 1, $12, now() + $13 * interval '1 millisecond')
     ON CONFLICT (send_key) DO UPDATE SET recipient = EXCLUDED.recipient, provider = EXCLUDED.provider, content = EXCLUDED.content,
       status = 'sending', reason = NULL, attempts = messages.attempts + 1, lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until, updated_at = now()
     WHERE messages.status IN ('retrying', 'failed', 'skipped')
        OR (messages.status = 'sending' AND $14 AND (messages.lease_until IS NULL OR messages.lease_until <= now()))
     RETURNING *`,
      [
        key.sendKey,
        key.journeyRunId,
        key.flowId,
        key.flowVersion,
        key.stepId,
        key.contactId,
        key.channel,
        key.transactional,
        attempt.recipient,
        attempt.provider,
        attempt.content,
        attempt.owner,
        attempt.leaseMs,
        attempt.takeOver,
      ],
    )
    .catch((err: { code?: string }) => {
      if (err.code === '23505') return { rows: [] as MessageRow[] };
      throw err;
    });
  return rows[0] && toMessage(rows[0]);
}

/** Best effort after a claim whose answer was lost (the insert may have committed): nothing was sent. */
export async function releaseClaim(q: Queryable, sendKey: string, owner: string): Promise<void> {
  await q.query(
    "UPDATE messages SET status = 'retrying', reason = 'claim not confirmed: nothing sent', lease_until = NULL, lease_owner = NULL, updated_at = now() WHERE send_key = $1 AND lease_owner = $2 AND status = 'sending'",
    [sendKey, owner],
  );
}

/** Whether a claim is still live, by the database's clock (the one lease_until was set with). */
export async function leaseLive(q: Queryable, id: string): Promise<boolean> {
  const { rows } = await q.query<{ live: boolean }>(
    "SELECT (status = 'sending' AND lease_until > now()) AS live FROM messages WHERE id = $1",
    [id],
  );
  return rows[0]?.live ?? false;
}

/** Keeps a claim alive during a long provider call (push to many subscriptions). */
export async function renewLease(q: Queryable, id: string, owner: string, leaseMs: number): Promise<void> {
  await q.query(
    "UPDATE messages SET lease_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
    [id, owner, leaseMs],
  );
}

/**
 * Ends a claim without an outcome yet: the next attempt settles it (asks the provider) at once.
 * updated_at stays the claim's time: the provider is asked about messages from then on.
 */
export async function expireLease(q: Queryable, id: string, owner: string, reason: string): Promise<void> {
  await q.query(
    "UPDATE messages SET lease_until = now(), reason = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
    [id, owner, reason],
  );
}

export async function finishAttempt(
  q: Queryable,
  id: string,
  outcome:
    | { status: 'sent'; providerMessageId: string; sentAt: Date }
    | { status: 'retrying' | 'failed'; reason: string }
    /**
     * Only a row still "sending" becomes unknown (a late "sent" wins), and only by the attempt
     * holding the claim (`owner`) or, without one, once the claim has expired (by the database's clock).
     */
    | { status: 'unknown'; reason: string; owner?: string },
): Promise<void> {
  if (outcome.status === 'sent') {
    // sent_at is the journey's time (the same as the clock in production; ahead of it when tests skip time).
    await q.query(
      "UPDATE messages SET status = 'sent', provider_message_id = $2, reason = NULL, sent_at = $3, lease_until = NULL, lease_owner = NULL, updated_at = now() WHERE id = $1",
      [id, outcome.providerMessageId, outcome.sentAt],
    );
  } else if (outcome.status === 'unknown') {
    await q.query(
      `UPDATE messages SET status = 'unknown', reason = $2, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = $1 AND status = 'sending' AND (lease_owner = $3 OR lease_until IS NULL OR lease_until <= now())`,
      [id, outcome.reason, outcome.owner ?? null],
    );
  } else {
    await q.query(
      'UPDATE messages SET status = $2, reason = $3, lease_until = NULL, lease_owner = NULL, updated_at = now() WHERE id = $1',
      [id, outcome.status, outcome.reason],
    );
  }
}

/**
 * A step that sent nothing (no address, suppressed): recorded so support can see why. Never
 * over a message that went out (or may have, or is going out now): that row is returned as is.
 */
export async function recordSkipped(
  q: Queryable,
  key: MessageKey,
  recipient: string | null,
  reason: string,
): Promise<MessageRecord> {
  const { rows } = await q.query<MessageRow>(
    `INSERT INTO messages (send_key, journey_run_id, flow_id, flow_version, step_id, contact_id, channel, transactional, recipient, status, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'skipped', $10)
     ON CONFLICT (send_key) DO UPDATE SET status = 'skipped', reason = EXCLUDED.reason, lease_until = NULL, lease_owner = NULL, updated_at = now()
     WHERE messages.status IN ('retrying', 'failed', 'skipped')
        OR (messages.status = 'sending' AND (messages.lease_until IS NULL OR messages.lease_until <= now()))
     RETURNING *`,
    [
      key.sendKey,
      key.journeyRunId,
      key.flowId,
      key.flowVersion,
      key.stepId,
      key.contactId,
      key.channel,
      key.transactional,
      recipient,
      reason,
    ],
  );
  if (rows[0]) return toMessage(rows[0]);
  return (await findStepMessage(q, key))!;
}

export async function listContactMessages(q: Queryable, contactId: string): Promise<MessageRecord[]> {
  const { rows } = await q.query<MessageRow>(
    'SELECT * FROM messages WHERE contact_id = $1 ORDER BY created_at DESC LIMIT 500',
    [contactId],
  );
  return rows.map(toMessage);
}

export async function listOutbox(q: Queryable, limit: number): Promise<MessageRecord[]> {
  const { rows } = await q.query<MessageRow>(
    "SELECT * FROM messages WHERE provider = 'outbox' ORDER BY created_at DESC LIMIT $1",
    [limit],
  );
  return rows.map(toMessage);
}

/**
 * When the contact last got a marketing message on this channel (ms), for smart sending. With
 * `priority`, only messages of that priority or higher count, ranked as the frequency cap ranks
 * them (audiences/frequency-cap.ts): a promotion never silences an abandoned-cart reminder.
 */
export async function lastMarketingSentAt(
  q: Queryable,
  contactId: string,
  channel: Channel,
  priority = CAMPAIGN_PRIORITY,
): Promise<number | undefined> {
  const { rows } = await q.query<{ at: Date | null }>(
    `SELECT max(m.sent_at) AS at
       FROM messages m
       LEFT JOIN flow_versions fv ON fv.flow_id = m.flow_id AND fv.version = m.flow_version
      WHERE m.contact_id = $1 AND m.channel = $2 AND m.status = 'sent' AND NOT m.transactional
        AND CASE WHEN fv.flow_id IS NULL THEN $4::int ELSE COALESCE((fv.definition ->> 'priority')::int, $5::int) END >= $3`,
    [contactId, channel, priority, CAMPAIGN_PRIORITY, DEFAULT_FLOW_PRIORITY],
  );
  return rows[0]?.at?.getTime();
}

/**
 * Suppressed for this message? Unsubscribes and complaints withdraw marketing consent only
 * (scope "marketing"); hard bounces and carrier opt-outs stop everything (scope "all"). An erased
 * person's address is kept as its `suppression_hash` (migration 025) and matches too.
 */
export async function isSuppressed(
  q: Queryable,
  channel: Channel,
  address: string,
  transactional = false,
): Promise<boolean> {
  const { rows } = await q.query(
    `SELECT 1 FROM suppressions WHERE channel = $1 AND address IN (lower($2), suppression_hash($2))${transactional ? " AND scope = 'all'" : ''}`,
    [channel, address],
  );
  return rows.length > 0;
}

/**
 * Suppresses an address. Consent decisions come through db/consent.ts `writeConsent` (the policy says which scope);
 * this is for what is not a decision of the person's (a hard bounce).
 */
export async function suppress(
  q: Queryable,
  channel: Channel,
  address: string,
  reason: string,
  scope: SuppressionScope = 'all',
): Promise<void> {
  // A wider scope replaces a narrower one; a narrower never weakens a wider.
  await q.query(
    `INSERT INTO suppressions (channel, address, reason, scope) VALUES ($1, $2, $3, $4)
     ON CONFLICT (channel, address) DO UPDATE SET scope = 'all', reason = EXCLUDED.reason WHERE EXCLUDED.scope = 'all' AND suppressions.scope <> 'all'`,
    [channel, address.toLowerCase(), reason, scope],
  );
}

/**
 * Lifts the suppressions of this scope (`all` lifts both) from the address and from the hash an erasure left: the
 * person opted in again.
 */
export async function liftSuppression(
  q: Queryable,
  channel: Channel,
  address: string,
  scope: SuppressionScope,
): Promise<void> {
  await q.query(
    `DELETE FROM suppressions WHERE channel = $1 AND address IN (lower($2), suppression_hash($2))${scope === 'marketing' ? " AND scope = 'marketing'" : ''}`,
    [channel, address],
  );
}

export async function getMessage(q: Queryable, id: string): Promise<MessageRecord | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await q.query<MessageRow>('SELECT * FROM messages WHERE id = $1', [id]);
  return rows[0] && toMessage(rows[0]);
}

export async function findMessageByProviderId(
  q: Queryable,
  provider: string,
  providerMessageId: string,
): Promise<MessageRecord | undefined> {
  const { rows } = await q.query<MessageRow>(
    'SELECT * FROM messages WHERE provider = $1 AND provider_message_id = $2',
    [provider, providerMessageId],
  );
  return rows[0] && toMessage(rows[0]);
}
