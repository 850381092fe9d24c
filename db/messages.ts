import type { SuppressionScope } from '../audiences/consent-policy';
import type { Queryable } from './pool';

export type Channel = 'email' | 'sms' | 'push' | 'webhook';
/**
 * `unknown`: an attempt may have reached the provider but we never learned its answer (not sent again when marketing).
 */
/** What sent a message: a flow's message step, a campaign, a double opt-in confirmation, a flow's webhook step. */
export type MessageSource = 'flow' | 'campaign' | 'confirmation' | 'webhook';
export type MessageStatus = 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped' | 'unknown';

export interface MessageRecord {
  id: string;
  journeyRunId: string;
  /** The flow and version of a journey's message; null for campaigns and confirmations. */
  flowId: string | null;
  flowVersion: number | null;
  stepId: string;
  contactId: string;
  channel: Channel;
  transactional: boolean;
  source: MessageSource;
  /** The priority it was sent with (frequency cap, smart sending): a flow's, or 0 for campaigns. */
  priority: number;
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
  /** When the attempt holding the claim handed it to the provider (the second phase of a claim). */
  handedAt: string | null;
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
  flow_id: string | null;
  flow_version: number | null;
  step_id: string;
  contact_id: string;
  channel: Channel;
  transactional: boolean;
  source: MessageSource;
  priority: number;
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
  provider_called_at: Date | null;
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
  source: r.source,
  priority: r.priority,
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
  handedAt: r.provider_called_at?.toISOString() ?? null,
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
  | 'journeyRunId'
  | 'flowId'
  | 'flowVersion'
  | 'stepId'
  | 'contactId'
  | 'channel'
  | 'transactional'
  | 'source'
  | 'priority'
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
 * Claims the step's message for one attempt, the first of two phases (the second:
 * handToProvider, right before the provider call): the row says "sending" with a lease, and no
 * other attempt may take it until the lease ends or the attempt records its outcome. Undefined
 * when the message is not claimable: sent, unknown, another attempt's lease is live, or a dead
 * attempt had handed it to the provider and, without `takeOver`, its outcome must be settled
 * first (a dead claim never handed went nowhere: claimed again as is).
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
                           status, attempts, lease_owner, lease_until, source, priority)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'sending', 1, $12, now() + $13 * interval '1 millisecond', $15, $16)
     ON CONFLICT (send_key) DO UPDATE SET recipient = EXCLUDED.recipient, provider = EXCLUDED.provider, content = EXCLUDED.content,
       status = 'sending', reason = NULL, attempts = messages.attempts + 1, lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until,
       provider_called_at = NULL, priority = EXCLUDED.priority, updated_at = now()
     WHERE messages.status IN ('retrying', 'failed', 'skipped')
        OR (messages.status = 'sending' AND (messages.lease_until IS NULL OR messages.lease_until <= now())
            AND (messages.provider_called_at IS NULL OR $14))
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
        key.source,
        key.priority,
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

/**
 * Records an attempt's outcome. With `owner` (the attempt holding the claim), only while it still
 * holds it: an attempt that stalled and lost its claim to another never overwrites that one's
 * claim or outcome. A "sent" is recorded unless another attempt holds a live claim (a late "sent"
 * wins over "unknown": the provider did take it).
 */
export async function finishAttempt(
  q: Queryable,
  id: string,
  outcome:
    | { status: 'sent'; providerMessageId: string; sentAt: Date; owner?: string }
    | { status: 'retrying' | 'failed'; reason: string; owner?: string }
    /**
     * Only a row still "sending" becomes unknown (a late "sent" wins), and only by the attempt
     * holding the claim (`owner`) or, without one, once the claim has expired (by the database's clock).
     */
    | { status: 'unknown'; reason: string; owner?: string },
): Promise<void> {
  const owner = outcome.owner ?? null;
  if (outcome.status === 'sent') {
    // sent_at is the journey's time (the same as the clock in production; ahead of it when tests skip time).
    await q.query(
      `UPDATE messages SET status = 'sent', provider_message_id = $2, reason = NULL, sent_at = $3, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = $1 AND ($4::text IS NULL OR status <> 'sending' OR lease_owner = $4 OR lease_until <= now())`,
      [id, outcome.providerMessageId, outcome.sentAt, owner],
    );
  } else if (outcome.status === 'unknown') {
    await q.query(
      `UPDATE messages SET status = 'unknown', reason = $2, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = $1 AND status = 'sending' AND (lease_owner = $3 OR lease_until IS NULL OR lease_until <= now())`,
      [id, outcome.reason, owner],
    );
  } else {
    await q.query(
      `UPDATE messages SET status = $2, reason = $3, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = $1 AND ($4::text IS NULL OR (status = 'sending' AND lease_owner = $4))`,
      [id, outcome.status, outcome.reason, owner],
    );
  }
}

/**
 * The second phase of a claim, in one statement immediately before the provider call: these
 * messages are handed to the provider. Only rows this attempt still holds, within their lease,
 * are marked (an attempt that stalled past its lease may have lost them to another attempt);
 * the answer is the ids marked, the only ones the caller may send.
 */
export async function handToProvider(q: Queryable, owner: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await q.query<{ id: string }>(
    `UPDATE messages SET provider_called_at = now()
      WHERE id = ANY($1::uuid[]) AND lease_owner = $2 AND status = 'sending' AND lease_until > now() RETURNING id`,
    [ids, owner],
  );
  return new Set(rows.map((r) => r.id));
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
    `INSERT INTO messages (send_key, journey_run_id, flow_id, flow_version, step_id, contact_id, channel, transactional, recipient, status, reason,
                           source, priority)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'skipped', $10, $11, $12)
     ON CONFLICT (send_key) DO UPDATE SET status = 'skipped', reason = EXCLUDED.reason, lease_until = NULL, lease_owner = NULL, updated_at = now()
     WHERE messages.status IN ('retrying', 'failed', 'skipped')
        OR (messages.status = 'sending' AND (messages.lease_until IS NULL OR messages.lease_until <= now())
            AND messages.provider_called_at IS NULL)
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
      key.source,
      key.priority,
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
