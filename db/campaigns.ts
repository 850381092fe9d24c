/**
 * Campaigns, their runs, the frozen audience of each run, and the page queries the campaign
 * activities use. A run's audience is written once, in one INSERT ... SELECT, when sending
 * starts; pages then go through it in `ord` order among the recipients that are due.
 */
import { holdoutFractionSql, holdoutLift, type GroupTotals, type HoldoutLift } from '../audiences/holdout';
import { campaignHoldoutKey, type CampaignDefinition, type CampaignStatus } from '../campaigns/schema';
import type { LocalSend } from '../campaigns/occurrences';
import type { QueryConfig } from 'pg';
import { CAMPAIGN_PRIORITY } from '../audiences/frequency-cap';
import { inTransaction, type Db, type Queryable } from './pool';

export { handToProvider } from './messages';

/** A recipient's message in a run (messages.send_key): one per run and contact, whatever retries and crashes happen. */
const sendKeySql = (run: string, contact: string) => `'campaign:' || ${run} || '|' || ${contact}`;

export interface Campaign {
  id: string;
  definition: CampaignDefinition;
  status: CampaignStatus;
  createdAt: string;
  updatedAt: string;
}

interface CampaignRow {
  id: string;
  definition: CampaignDefinition;
  status: CampaignStatus;
  created_at: Date;
  updated_at: Date;
}

const toCampaign = (r: CampaignRow): Campaign => ({
  id: r.id,
  definition: r.definition,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * Statuses in which the definition may change: nothing is scheduled or sent from it (a scheduled
 * run carries the definition it was scheduled with: edit after cancelling).
 */
const EDITABLE: CampaignStatus[] = ['draft', 'completed', 'cancelled'];

/** Creates or replaces; undefined when the campaign is scheduled, sending or paused (a 409). */
export async function saveCampaign(
  q: Queryable,
  definition: CampaignDefinition,
): Promise<{ campaign: Campaign; created: boolean } | undefined> {
  const { rows } = await q.query<CampaignRow & { created: boolean }>(
    `INSERT INTO campaigns (id, definition) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now() WHERE campaigns.status = ANY($3)
     RETURNING *, (xmax = 0) AS created`,
    [definition.id, definition, EDITABLE],
  );
  return rows[0] && { campaign: toCampaign(rows[0]), created: rows[0].created };
}

export async function getCampaign(q: Queryable, id: string): Promise<Campaign | undefined> {
  const { rows } = await q.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1', [id]);
  return rows[0] && toCampaign(rows[0]);
}

export async function listCampaigns(q: Queryable): Promise<Campaign[]> {
  const { rows } = await q.query<CampaignRow>('SELECT * FROM campaigns ORDER BY created_at, id LIMIT 1000');
  return rows.map(toCampaign);
}

export async function setCampaignStatus(q: Queryable, id: string, status: CampaignStatus): Promise<void> {
  await q.query('UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

export interface FreezeRequest {
  runId: string;
  campaign: CampaignDefinition;
  /** When sending starts (workflow time, ms): the due time of every recipient without a local time. */
  now: number;
  /**
   * Local-time sends: the date (YYYY-MM-DD) and hour at which each contact gets it in their zone;
   * with `passed`, the contacts whose hour had passed get the following occurrence (or none in this run).
   */
  local?: LocalSend;
  defaultZone: string;
}

/**
 * The audience (lists and segments $n, $n+1 minus $n+2, $n+3) with each contact's zone (the
 * timezone trait when Postgres knows it, else $n+4): CTEs `members`, `zones`, `zoned`.
 */
const zonedAudience = (n: number) => `members AS (
       (SELECT contact_id FROM list_memberships WHERE list_id = ANY($${n}) AND left_at IS NULL
        UNION SELECT contact_id FROM segment_members WHERE segment_id = ANY($${n + 1}) AND exited_at IS NULL)
       EXCEPT
       (SELECT contact_id FROM list_memberships WHERE list_id = ANY($${n + 2}) AND left_at IS NULL
        UNION SELECT contact_id FROM segment_members WHERE segment_id = ANY($${n + 3}) AND exited_at IS NULL)
     ),
     -- Read once: pg_timezone_names is a function scan, not a table.
     zones AS MATERIALIZED (SELECT name FROM pg_timezone_names),
     zoned AS (
       SELECT c.id, COALESCE(z.name, $${n + 4}) AS zone
         FROM members m
         JOIN contacts c ON c.id = m.contact_id
         LEFT JOIN zones z ON z.name = c.traits ->> 'timezone'
     )`;

/** How many contacts of the audience (as it is now, before a freeze) live in each zone. */
export async function audienceZones(
  q: Queryable,
  audience: CampaignDefinition['audience'],
  defaultZone: string,
): Promise<{ zone: string; contacts: number }[]> {
  const { rows } = await q.query<{ zone: string; contacts: number }>(
    `WITH ${zonedAudience(1)} SELECT zone, count(*)::int AS contacts FROM zoned GROUP BY zone ORDER BY zone`,
    [audience.lists, audience.segments, audience.exclude.lists, audience.exclude.segments, defaultZone],
  );
  return rows.map((r) => ({ zone: r.zone, contacts: r.contacts }));
}

/** A frozen run's recipients by zone and due time (the send window as frozen). */
export async function runZones(q: Queryable, runId: string): Promise<{ zone: string; contacts: number; at: number }[]> {
  const { rows } = await q.query<{ zone: string; contacts: number; due_at: Date }>(
    `SELECT zone, due_at, count(*)::int AS contacts FROM campaign_recipients
      WHERE run_id = $1 AND NOT control GROUP BY zone, due_at ORDER BY due_at, zone`,
    [runId],
  );
  return rows.map((r) => ({ zone: r.zone, contacts: r.contacts, at: r.due_at.getTime() }));
}

/**
 * A freeze writes a whole audience in one statement: it may take longer than the pool's
 * statement timeout, but must end before the activity's own timeout (2 minutes) so that a
 * retry never runs beside it.
 */
const FREEZE_TIMEOUT_MS = 100_000;

/**
 * Writes the run and its audience once, in one transaction: lists and segments named, minus the
 * exclusions, as they are at this moment. A retried activity finds the run and changes nothing;
 * a freeze that failed half way (crash, timeout) left nothing, so its retry freezes everyone.
 * Holdout: the control share (isHeldOut(campaignHoldoutKey(id), contact, share), computed here
 * in SQL with the same hash) is frozen with `control` and settled at once: it receives nothing.
 */
export function freezeAudience(db: Db, req: FreezeRequest): Promise<{ recipients: number }> {
  return inTransaction(db, (tx) => freezeIn(tx, req));
}

async function freezeIn(q: Queryable, req: FreezeRequest): Promise<{ recipients: number }> {
  await q.query(`SET LOCAL statement_timeout = ${FREEZE_TIMEOUT_MS}`);
  const run = await q.query<{ run_id: string }>(
    'INSERT INTO campaign_runs (run_id, campaign_id, definition) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING RETURNING run_id',
    [req.runId, req.campaign.id, req.campaign],
  );
  if (run.rows.length === 0) return { recipients: await countRecipients(q, req.runId) };
  const { audience, abTest } = req.campaign;
  // A/B tests: the k-th of every 100 recipients (in id order) is in the test when
  // floor(k * percent / 100) steps up, which spreads exactly `percent` % evenly; the test's
  // members take the variants in turn. Control recipients (holdout) are in no variant.
  const variants = abTest?.variants.map((v) => v.id) ?? [];
  // pg reads a per-query client timeout its types do not declare.
  const insert: QueryConfig & { query_timeout: number } = {
    query_timeout: FREEZE_TIMEOUT_MS + 2_000,
    text: `WITH ${zonedAudience(2)},
     -- Per zone (moments, issue 16): where the hour had passed at $15 the following occurrence
     -- ($14) is due instead, or the contact is in the next run ($16 false) and not in this one.
     timed AS (
       SELECT id, zone, local_at, $14::text IS NOT NULL AND local_at <= $15::timestamptz AS passed
         FROM zoned CROSS JOIN LATERAL (
           SELECT CASE WHEN $7::text IS NOT NULL THEN ($7::text || ' ' || $9::text)::timestamp AT TIME ZONE zone END AS local_at
         ) l
     ),
     numbered AS (
       SELECT id, zone, local_at, passed, row_number() OVER (ORDER BY id) AS ord
         FROM timed WHERE NOT (passed AND NOT $16::boolean)
     )
     INSERT INTO campaign_recipients (run_id, contact_id, ord, zone, due_at, variant, control, done)
     SELECT $1, n.id, n.ord, n.zone,
            CASE WHEN $7::text IS NULL THEN $8::timestamptz
                 WHEN n.passed THEN ($14::text || ' ' || $9::text)::timestamp AT TIME ZONE n.zone
                 ELSE n.local_at END,
            CASE WHEN NOT h.control AND cardinality($10::text[]) > 0 AND (n.ord * $11::int) / 100 > ((n.ord - 1) * $11::int) / 100
                 THEN ($10::text[])[1 + ((n.ord * $11::int) / 100) % cardinality($10::text[])] END,
            h.control, h.control
       FROM numbered n
       CROSS JOIN LATERAL (SELECT $13::float8 > 0 AND ${holdoutFractionSql('$12::text', 'n.id')} < $13::float8 AS control) h`,
    values: [
      req.runId,
      audience.lists,
      audience.segments,
      audience.exclude.lists,
      audience.exclude.segments,
      req.defaultZone,
      req.local?.date ?? null,
      new Date(req.now),
      req.local?.time ?? null,
      variants,
      abTest?.testPercent ?? 0,
      campaignHoldoutKey(req.campaign.id),
      req.campaign.holdout?.share ?? 0,
      req.local?.passed?.date ?? null,
      new Date(req.local?.passed?.before ?? 0),
      req.local?.passed?.thisRun ?? true,
    ],
  };
  const { rowCount } = await q.query(insert);
  await q.query('UPDATE campaign_runs SET recipients = $2 WHERE run_id = $1', [req.runId, rowCount ?? 0]);
  return { recipients: rowCount ?? 0 };
}

async function countRecipients(q: Queryable, runId: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM campaign_recipients WHERE run_id = $1',
    [runId],
  );
  return rows[0].n;
}

/**
 * A due recipient of a page: who, where (zone, variant), and what earlier attempts of this run
 * left. What the send rules need about the contact is read under its send lock (db/send-facts.ts).
 */
export interface PageRecipient {
  contactId: string;
  zone: string;
  /** A/B tests: the variant; null without a test. */
  variant: string | null;
  /** What earlier attempts of this run left for the recipient (read with the page: one query). */
  previous: CampaignMessageState | null;
}

/**
 * The recipients due at `now` and not settled among those with `ord` in the window (pages run
 * side by side on disjoint windows), in order.
 */
export async function duePage(
  q: Queryable,
  runId: string,
  now: number,
  window: { afterOrd: number; limit: number /** A/B test phase: only the test's members. */; testOnly?: boolean },
): Promise<PageRecipient[]> {
  const { rows } = await q.query<{
    contact_id: string;
    zone: string;
    variant: string | null;
    message_id: string | null;
    message_status: string | null;
    live: boolean;
    handed: boolean;
  }>(
    `SELECT r.contact_id, r.zone, r.variant, pm.id AS message_id, pm.status AS message_status,
            COALESCE(pm.status = 'sending' AND pm.lease_until > now(), false) AS live, pm.provider_called_at IS NOT NULL AS handed
       FROM (SELECT * FROM campaign_recipients WHERE run_id = $1 AND NOT done AND due_at <= $2 AND ord > $3 AND ord <= $3 + $4 AND (NOT $5 OR variant IS NOT NULL) ORDER BY ord) r
       LEFT JOIN messages pm ON pm.send_key = ${sendKeySql('r.run_id', 'r.contact_id')}
      ORDER BY r.ord`,
    [runId, new Date(now), window.afterOrd, window.limit, window.testOnly ?? false],
  );
  return rows.map((r) => ({
    contactId: r.contact_id,
    zone: r.zone,
    variant: r.variant,
    previous:
      r.message_id === null
        ? null
        : { id: r.message_id, contactId: r.contact_id, status: r.message_status!, live: r.live, handed: r.handed },
  }));
}

export async function markDone(q: Queryable, runId: string, contactIds: string[]): Promise<void> {
  if (contactIds.length === 0) return;
  await q.query('UPDATE campaign_recipients SET done = true WHERE run_id = $1 AND contact_id = ANY($2)', [
    runId,
    contactIds,
  ]);
}

/**
 * The end of a page in one statement: the messages the provider accepted recorded "sent" (one
 * provider message id per request) and the page's settled recipients marked done.
 */
export async function settlePage(
  q: Queryable,
  runId: string,
  settled: string[],
  sent: { ids: string[]; providerMessageId: string }[],
  sentAt: Date,
  owner: string,
): Promise<void> {
  const ids = sent.flatMap((s) => s.ids);
  if (ids.length === 0) return markDone(q, runId, settled);
  await q.query(
    `WITH sent AS (
       UPDATE messages m SET status = 'sent', provider_message_id = s.provider_message_id, reason = NULL, sent_at = $5, lease_until = NULL, lease_owner = NULL, updated_at = now()
         FROM unnest($3::uuid[], $4::text[]) AS s(id, provider_message_id)
        WHERE m.id = s.id AND (m.status <> 'sending' OR m.lease_owner = $6 OR m.lease_until <= now()))
     UPDATE campaign_recipients SET done = true WHERE run_id = $1 AND contact_id = ANY($2)`,
    [runId, settled, ids, sent.flatMap((s) => s.ids.map(() => s.providerMessageId)), sentAt, owner],
  );
}

/** Quiet hours: these recipients are due again when their window ends. */
export async function deferRecipients(
  q: Queryable,
  runId: string,
  deferred: { contactId: string; until: number }[],
): Promise<void> {
  if (deferred.length === 0) return;
  await q.query(
    `UPDATE campaign_recipients r SET due_at = d.until FROM unnest($2::text[], $3::timestamptz[]) AS d(contact_id, until)
      WHERE r.run_id = $1 AND r.contact_id = d.contact_id`,
    [runId, deferred.map((d) => d.contactId), deferred.map((d) => new Date(d.until))],
  );
}

/** What is left of the run: unsettled recipients and when the earliest of them is due. */
export async function remaining(q: Queryable, runId: string): Promise<{ pending: number; nextDueAt: number | null }> {
  const { rows } = await q.query<{ n: number; next: Date | null }>(
    'SELECT count(*)::int AS n, min(due_at) AS next FROM campaign_recipients WHERE run_id = $1 AND NOT done',
    [runId],
  );
  return { pending: rows[0].n, nextDueAt: rows[0].next?.getTime() ?? null };
}

export async function setRunStatus(
  q: Queryable,
  runId: string,
  status: 'sending' | 'paused' | 'completed' | 'cancelled',
): Promise<void> {
  await q.query(
    `UPDATE campaign_runs SET status = $2, finished_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN now() ELSE NULL END WHERE run_id = $1`,
    [runId, status],
  );
}

export interface RunProgress {
  runId: string;
  status: string;
  frozenAt: string;
  recipients: number;
  settled: number;
  pending: number;
}

export async function campaignProgress(q: Queryable, campaignId: string): Promise<RunProgress[]> {
  const { rows } = await q.query<{
    run_id: string;
    status: string;
    frozen_at: Date;
    recipients: number;
    settled: number;
  }>(
    `SELECT r.run_id, r.status, r.frozen_at, r.recipients,
            (SELECT count(*)::int FROM campaign_recipients cr WHERE cr.run_id = r.run_id AND cr.done) AS settled
       FROM campaign_runs r WHERE r.campaign_id = $1 ORDER BY r.frozen_at, r.run_id`,
    [campaignId],
  );
  return rows.map((r) => ({
    runId: r.run_id,
    status: r.status,
    frozenAt: r.frozen_at.toISOString(),
    recipients: r.recipients,
    settled: r.settled,
    pending: r.recipients - r.settled,
  }));
}

export interface CampaignMessageState {
  id: string;
  contactId: string;
  status: string;
  /** While "sending": whether the attempt holding it is still within its lease. */
  live: boolean;
  /** While "sending": whether it was handed to the provider (a dead claim without it was never sent). */
  handed: boolean;
}

export interface CampaignMessageKey {
  runId: string;
  campaignId: string;
  channel: string;
  variant: string;
}

const MESSAGE_COLUMNS =
  'send_key, journey_run_id, step_id, contact_id, channel, transactional, recipient, campaign_id, campaign_run_id, variant, source, priority';
// A campaign message names its campaign, run and variant, and belongs to no flow. journey_run_id
// is "<run>|<contact>" (the old unique key is per journey run and step), step = variant.
const MESSAGE_VALUES = `${sendKeySql('$1', 't.contact_id')}, $1 || '|' || t.contact_id, $4, t.contact_id, $3, false, t.recipient, $2, $1, $4, 'campaign', ${CAMPAIGN_PRIORITY}`;

/**
 * Rows a dead or failed attempt certainly did not send: "retrying", or a "sending" claim whose
 * lease ran out before it was handed to the provider (migration 022). Only these are taken again.
 */
const RECLAIMABLE =
  "(messages.status = 'retrying' OR (messages.status = 'sending' AND messages.provider_called_at IS NULL AND messages.lease_until <= now()))";

/**
 * Claims the page's messages in one statement, before the provider call: each row "sending"
 * under this attempt's lease, not yet handed to the provider. Only new rows and RECLAIMABLE
 * ones are claimed; the answer lists the claimed ones (contact, message id).
 */
export async function claimCampaignMessages(
  q: Queryable,
  key: CampaignMessageKey,
  attempt: {
    owner: string;
    leaseMs: number;
    provider: string;
    recipients: { contactId: string; recipient: string; content: Record<string, string> }[];
  },
): Promise<Map<string, string>> {
  if (attempt.recipients.length === 0) return new Map();
  const { rows } = await q.query<{ id: string; contact_id: string }>(
    `INSERT INTO messages (${MESSAGE_COLUMNS}, provider, content, status, attempts, lease_owner, lease_until)
     SELECT ${MESSAGE_VALUES}, $5, t.content::jsonb, 'sending', 1, $6, now() + $7 * interval '1 millisecond'
       FROM unnest($8::text[], $9::text[], $10::text[]) AS t(contact_id, recipient, content)
     ON CONFLICT (send_key) DO UPDATE SET recipient = EXCLUDED.recipient, provider = EXCLUDED.provider, content = EXCLUDED.content,
       status = 'sending', reason = NULL, attempts = messages.attempts + 1, lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until,
       provider_called_at = NULL, updated_at = now()
     WHERE ${RECLAIMABLE}
     RETURNING id, contact_id`,
    [
      key.runId,
      key.campaignId,
      key.channel,
      key.variant,
      attempt.provider,
      attempt.owner,
      attempt.leaseMs,
      attempt.recipients.map((r) => r.contactId),
      attempt.recipients.map((r) => r.recipient),
      attempt.recipients.map((r) => JSON.stringify(r.content)),
    ],
  );
  return new Map(rows.map((r) => [r.contact_id, r.id]));
}

/** Recipients the rules left out (no address, consent, smart sending, cap): one row each, saying why. */
export async function recordCampaignSkips(
  q: Queryable,
  key: CampaignMessageKey,
  skips: { contactId: string; recipient: string | null; reason: string }[],
): Promise<void> {
  if (skips.length === 0) return;
  await q.query(
    `INSERT INTO messages (${MESSAGE_COLUMNS}, status, reason)
     SELECT ${MESSAGE_VALUES}, 'skipped', t.reason
       FROM unnest($5::text[], $6::text[], $7::text[]) AS t(contact_id, recipient, reason)
     ON CONFLICT (send_key) DO UPDATE SET status = 'skipped', reason = EXCLUDED.reason, lease_until = NULL, lease_owner = NULL, updated_at = now()
     WHERE ${RECLAIMABLE}`,
    [
      key.runId,
      key.campaignId,
      key.channel,
      key.variant,
      skips.map((s) => s.contactId),
      skips.map((s) => s.recipient),
      skips.map((s) => s.reason),
    ],
  );
}

/** Keeps this attempt's claims alive while a long provider call runs. */
export async function renewCampaignLeases(q: Queryable, owner: string, leaseMs: number): Promise<void> {
  await q.query(
    "UPDATE messages SET lease_until = now() + $2 * interval '1 millisecond' WHERE lease_owner = $1 AND status = 'sending'",
    [owner, leaseMs],
  );
}

/**
 * Outcomes of a page's messages, as finishAttempt records one: by the attempt holding the claims
 * (`owner`; a "sent" is recorded unless another attempt holds a live claim), or without one, the
 * dead claims of an earlier attempt only.
 */
export async function finishCampaignMessages(
  q: Queryable,
  ids: string[],
  outcome:
    | { status: 'sent'; providerMessageId: string; sentAt: Date; owner: string }
    | { status: 'unknown' | 'retrying' | 'failed'; reason: string; owner: string | null },
): Promise<void> {
  if (ids.length === 0) return;
  if (outcome.status === 'sent') {
    await q.query(
      `UPDATE messages SET status = 'sent', provider_message_id = $2, reason = NULL, sent_at = $3, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = ANY($1::uuid[]) AND (status <> 'sending' OR lease_owner = $4 OR lease_until <= now())`,
      [ids, outcome.providerMessageId, outcome.sentAt, outcome.owner],
    );
  } else {
    await q.query(
      `UPDATE messages SET status = $2, reason = $3, lease_until = NULL, lease_owner = NULL, updated_at = now()
        WHERE id = ANY($1::uuid[]) AND status = 'sending' AND (lease_owner = $4 OR ($4::text IS NULL AND lease_until <= now()))`,
      [ids, outcome.status, outcome.reason, outcome.owner],
    );
  }
}

/**
 * A/B test: the variant with the best unique open (or click) rate among those sent (ties: the
 * first listed), written on the run, and given to the rest of the audience. Idempotent.
 */
export async function chooseWinner(
  q: Queryable,
  runId: string,
  variants: string[],
  by: 'opens' | 'clicks',
): Promise<{ winner: string; rates: Record<string, number> }> {
  const { rows } = await q.query<{ step_id: string; sent: number; engaged: number }>(
    `SELECT step_id, count(*) FILTER (WHERE status = 'sent')::int AS sent,
            count(${by === 'opens' ? 'COALESCE(opened_at, clicked_at)' : 'clicked_at'})::int AS engaged
       FROM messages WHERE campaign_run_id = $1 GROUP BY step_id`,
    [runId],
  );
  const rates = Object.fromEntries(
    variants.map((v) => {
      const r = rows.find((x) => x.step_id === v);
      return [v, r && r.sent > 0 ? r.engaged / r.sent : 0];
    }),
  );
  const best = variants.reduce((a, b) => (rates[b] > rates[a] ? b : a));
  const { rows: run } = await q.query<{ winner: string }>(
    'UPDATE campaign_runs SET winner = COALESCE(winner, $2) WHERE run_id = $1 RETURNING winner',
    [runId, best],
  );
  const winner = run[0]?.winner ?? best;
  await q.query('UPDATE campaign_recipients SET variant = $2 WHERE run_id = $1 AND variant IS NULL', [runId, winner]);
  return { winner, rates };
}

/**
 * A campaign's holdout, treated against control, per contact: the goal event within the window
 * after the recipient's send moment (its message's sent_at; unsent and control recipients: when
 * they were due, the run's start or their local hour), each event once. A contact in several
 * runs (recurring) counts once, with its first run. Null when no run kept a control group.
 */
export async function campaignHoldoutStats(
  q: Queryable,
  campaignId: string,
  opts: { goalEvent: string; windowDays: number },
): Promise<HoldoutLift | null> {
  const { rows } = await q.query<{
    control: boolean;
    contacts: number;
    converters: number;
    conversions: number;
    revenue: string;
    revenue_squares: string;
  }>(
    `WITH recipients AS (
       SELECT r.contact_id, r.control, COALESCE(m.sent_at, r.due_at) AS moment, cr.frozen_at
         FROM campaign_runs cr
         JOIN campaign_recipients r ON r.run_id = cr.run_id
         LEFT JOIN messages m ON m.send_key = ${sendKeySql('r.run_id', 'r.contact_id')} AND m.status = 'sent'
        WHERE cr.campaign_id = $1 AND jsonb_typeof(cr.definition -> 'holdout' -> 'share') = 'number'
     ),
     contacts AS (
       SELECT DISTINCT ON (contact_id) contact_id, control FROM recipients ORDER BY contact_id, frozen_at
     ),
     conversions AS (
       -- DISTINCT: an event within the windows of two runs counts once.
       SELECT DISTINCT r.contact_id, ev.id, order_value(ev.properties) AS revenue
         FROM recipients r
         JOIN events ev ON ev.contact_id = r.contact_id AND ev.type = 'track' AND ev.name = $2
                       AND ev.occurred_at >= r.moment AND ev.occurred_at <= r.moment + $3::double precision * interval '24 hours'
     ),
     per_contact AS (
       SELECT c.contact_id, c.control, count(v.id)::int AS conversions, COALESCE(sum(v.revenue), 0) AS revenue
         FROM contacts c LEFT JOIN conversions v ON v.contact_id = c.contact_id
        GROUP BY c.contact_id, c.control
     )
     SELECT control, count(*)::int AS contacts, count(*) FILTER (WHERE conversions > 0)::int AS converters,
            COALESCE(sum(conversions), 0)::int AS conversions, COALESCE(sum(revenue), 0)::text AS revenue,
            COALESCE(sum(revenue * revenue), 0)::text AS revenue_squares
       FROM per_contact GROUP BY control`,
    [campaignId, opts.goalEvent, opts.windowDays],
  );
  if (rows.length === 0) return null;
  const group = (control: boolean): GroupTotals => {
    const r = rows.find((row) => row.control === control);
    return {
      contacts: r?.contacts ?? 0,
      converters: r?.converters ?? 0,
      conversions: r?.conversions ?? 0,
      revenue: Number(r?.revenue ?? 0),
      revenueSquares: Number(r?.revenue_squares ?? 0),
    };
  };
  return holdoutLift(group(false), group(true));
}
