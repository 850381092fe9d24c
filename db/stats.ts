/**
 * Per-flow numbers: how many contacts entered and how they left (journeys), what each step's
 * messages did (messages and the first-time engagement columns kept on them), and what they
 * earned (goal events credited last-touch).
 *
 * Conversion, last-touch: a goal event (a stored track event named like the flow version's
 * goal) is credited to the LAST message sent to that contact before it, from any flow and any
 * channel, provided that message went out at most `conversionWindowDays` before the event.
 * This flow (version, step) gets the conversion only when that last message is one of its
 * own; a goal event is therefore credited once, to one message, across all flows.
 * Revenue is what the order is worth (SQL `order_value`, migration 026: `total`, else `revenue`, else 0).
 *
 * Goal `where` conditions are not applied here: a goal event is recognised by its name.
 *
 * Holdout (flows with `holdout`, audiences/holdout.ts): conversions are NOT last-touch there,
 * since the control group gets no message to credit. Each contact who entered a version with a
 * holdout counts once, in the group its hash puts it in (with the share of its first entry in
 * scope); its conversions are the goal events (of the version it entered) within
 * `conversionWindowDays` after any of its entries, each event once; revenue as above.
 */
import {
  flowHoldoutKey,
  holdoutFractionSql,
  holdoutLift,
  type GroupTotals,
  type HoldoutLift,
} from '../audiences/holdout';
import { withDefaults } from '../flows/defaults';
import type { FlowDefinition } from '../flows/schema';
import type { Queryable } from './pool';
import { EVENTS } from '../flows/event-names';

export const DEFAULT_CONVERSION_WINDOW_DAYS = 5;

/** How journeys ended (journeys.status, and exit_reason for exited ones), plus those still running. */
export interface ExitCounts {
  completed: number;
  flow_filter: number;
  goal: number;
  exit_step: number;
  archived: number;
  unsubscribed: number;
  failed: number;
  running: number;
  /** Any exit reason this list does not know yet is counted under its own name. */
  [reason: string]: number;
}

export interface MessageCounts {
  /** Messages handed to the provider (status "sent"). */
  sent: number;
  /** The engagement counts are unique: messages that were delivered/opened/… at least once. */
  delivered: number;
  bounced: number;
  /** Includes messages only known to be clicked: a click implies an open. */
  opened: number;
  clicked: number;
  /** Unsubscribes and spam reports. */
  unsubscribed: number;
  converted: number;
  revenue: number;
  /** Steps that sent nothing on purpose (no address, suppressed, smart sending, frequency cap…). */
  skipped: number;
  failed: number;
  /** Outcome unknown (an attempt may have reached the provider; a marketing message is not sent again). */
  unknown: number;
}

export interface StepStats extends MessageCounts {
  stepId: string;
  channel: string;
  /** Skipped messages by the reason's first part ("smart sending", "address is suppressed"…). */
  skippedByReason: Record<string, number>;
  /** Still being sent or retried. */
  pending: number;
}

export interface VersionStats {
  version: number;
  /** The goal event conversions are counted on for this version. */
  goalEvent: string;
  entered: number;
  exited: ExitCounts;
  converted: number;
  revenue: number;
  steps: StepStats[];
}

/** Treated against control, from entry (see the header); null when no version in scope has a holdout. */
export interface HoldoutStats extends HoldoutLift {
  /** The versions in scope that kept a holdout, and their control shares. */
  versions: { version: number; share: number }[];
}

export interface FlowStats {
  flowId: string;
  conversionWindowDays: number;
  totals: MessageCounts & { entered: number; exited: ExitCounts };
  versions: VersionStats[];
  holdout: HoldoutStats | null;
}

export interface FlowStatsOptions {
  /** Only this version; default: all versions. */
  version?: number;
  /** How long after a message a goal event still counts as its conversion; default 5 days. */
  conversionWindowDays?: number;
  /** The goal event when no flow version names one (campaigns: db/campaigns.ts). */
  goalEvent?: string;
  /** The id is a campaign's: its messages (messages.campaign_id), each variant a step of version 0. */
  campaign?: boolean;
}

const emptyExits = (): ExitCounts => ({
  completed: 0,
  flow_filter: 0,
  goal: 0,
  exit_step: 0,
  archived: 0,
  unsubscribed: 0,
  failed: 0,
  running: 0,
});
const emptyCounts = (): MessageCounts => ({
  sent: 0,
  delivered: 0,
  bounced: 0,
  opened: 0,
  clicked: 0,
  unsubscribed: 0,
  converted: 0,
  revenue: 0,
  skipped: 0,
  failed: 0,
  unknown: 0,
});
const COUNT_KEYS = Object.keys(emptyCounts()) as (keyof MessageCounts)[];

/** Sums of money: numeric in SQL, rounded to cents here so float noise never shows. */
const money = (value: string | number | null | undefined) => Math.round(Number(value ?? 0) * 100) / 100;

export async function flowStats(q: Queryable, flowId: string, opts: FlowStatsOptions = {}): Promise<FlowStats> {
  const windowDays = opts.conversionWindowDays ?? DEFAULT_CONVERSION_WINDOW_DAYS;
  const version = opts.version ?? null;
  // Whose messages: a flow's, or a campaign's (no flow, no version: read as version 0).
  const owner = opts.campaign ? 'campaign_id' : 'flow_id';
  const versionSql = 'COALESCE(flow_version, 0)';

  // Each version is kept whole, goal included: a version's messages are credited for the
  // goal that version had (withDefaults: versions stored before goals existed get the default).
  const definitions = await q.query<{ version: number; definition: FlowDefinition }>(
    'SELECT version, definition FROM flow_versions WHERE flow_id = $1 AND ($2::int IS NULL OR version = $2) AND NOT $3 ORDER BY version',
    [flowId, version, opts.campaign ?? false],
  );
  const goalOf = new Map(definitions.rows.map((r) => [r.version, withDefaults(r.definition).goal.event]));
  const stepOrder = new Map(definitions.rows.map((r) => [r.version, (r.definition.steps ?? []).map((s) => s.id)]));
  // Campaign messages have no flow version (read as 0): their goal is given.
  if (opts.goalEvent && goalOf.size === 0) goalOf.set(0, opts.goalEvent);

  const journeys = await q.query<{ flow_version: number; outcome: string; n: number }>(
    `SELECT flow_version,
            -- completed/failed/running are statuses; an exited journey says why in exit_reason.
            CASE WHEN status = 'exited' THEN COALESCE(exit_reason, 'unknown') ELSE status END AS outcome,
            count(*)::int AS n
       FROM journeys
      -- A "starting" row is an entry being claimed: it counts once its workflow has started.
      WHERE flow_id = $1 AND ($2::int IS NULL OR flow_version = $2) AND status <> 'starting' AND NOT $3
      GROUP BY 1, 2`,
    [flowId, version, opts.campaign ?? false],
  );

  const steps = await q.query<{
    flow_version: number;
    step_id: string;
    channel: string;
    sent: number;
    skipped: number;
    failed: number;
    unknown: number;
    pending: number;
    delivered: number;
    bounced: number;
    opened: number;
    clicked: number;
    unsubscribed: number;
  }>(
    `SELECT ${versionSql} AS flow_version, step_id, channel,
            count(*) FILTER (WHERE status = 'sent')::int                    AS sent,
            count(*) FILTER (WHERE status = 'skipped')::int                 AS skipped,
            count(*) FILTER (WHERE status = 'failed')::int                  AS failed,
            count(*) FILTER (WHERE status = 'unknown')::int                 AS unknown,
            count(*) FILTER (WHERE status IN ('sending', 'retrying'))::int  AS pending,
            -- One row per message and the first time of each fact kept on it: counting the
            -- non-null columns counts unique messages (a second open changes nothing).
            count(delivered_at)::int    AS delivered,
            count(bounced_at)::int      AS bounced,
            count(opened_at)::int       AS opened,
            count(clicked_at)::int      AS clicked,
            count(unsubscribed_at)::int AS unsubscribed
       FROM messages
      WHERE ${owner} = $1 AND ($2::int IS NULL OR ${versionSql} = $2)
      GROUP BY 1, 2, 3`,
    [flowId, version],
  );

  const skips = await q.query<{ flow_version: number; step_id: string; reason: string; n: number }>(
    `SELECT ${versionSql} AS flow_version, step_id,
            -- "smart sending: a marketing email went out 3 h ago (window 16 h)" -> "smart sending"
            COALESCE(NULLIF(split_part(reason, ':', 1), ''), 'unknown') AS reason,
            count(*)::int AS n
       FROM messages
      WHERE ${owner} = $1 AND ($2::int IS NULL OR ${versionSql} = $2) AND status = 'skipped'
      GROUP BY 1, 2, 3`,
    [flowId, version],
  );

  const conversions = await q.query<{ flow_version: number; step_id: string; converted: number; revenue: string }>(
    `WITH goals AS (
       -- The goal event of each version in scope (computed from the definitions above).
       SELECT * FROM unnest($2::int[], $3::text[]) AS g(version, event)
     ),
     candidates AS (
       -- Goal events that can only be credited here if one of this flow's messages went out
       -- within the window before them: start from those messages (messages_flow index) and
       -- look up the contact's goal events after each (events_contact_name_time index).
       -- This only narrows the search; who gets the credit is decided below. DISTINCT: an
       -- event within the window of several of our messages is still one event.
       SELECT DISTINCT e.id, e.contact_id, e.name, e.occurred_at, e.properties
         FROM messages fm
         JOIN goals g ON g.version = COALESCE(fm.flow_version, 0)
         JOIN events e ON e.contact_id = fm.contact_id
                      AND e.type = 'track'
                      AND e.name = g.event
                      AND e.occurred_at >= fm.sent_at
                      AND e.occurred_at <= fm.sent_at + $4::double precision * interval '24 hours'
        WHERE fm.${owner} = $1 AND fm.status = 'sent' AND fm.channel <> 'webhook'
     ),
     credited AS (
       SELECT c.id, last_touch.owner_id, last_touch.flow_version, last_touch.step_id, c.name, c.properties
         FROM candidates c
         -- Last touch: the latest message the contact was sent, by ANY flow, before the event
         -- and within the window. LIMIT 1 gives every event exactly one candidate message;
         -- ties on sent_at are broken by creation order, then id, so the answer is stable.
         CROSS JOIN LATERAL (
           SELECT m.${owner} AS owner_id, COALESCE(m.flow_version, 0) AS flow_version, m.step_id
             FROM messages m
            WHERE m.contact_id = c.contact_id
              AND m.status = 'sent'
              -- Webhooks are calls to other systems, not something the contact saw.
              AND m.channel <> 'webhook'
              AND m.sent_at <= c.occurred_at
              AND m.sent_at >= c.occurred_at - $4::double precision * interval '24 hours'
            ORDER BY m.sent_at DESC, m.created_at DESC, m.id DESC
            LIMIT 1
         ) AS last_touch
     )
     SELECT cr.flow_version, cr.step_id,
            count(*)::int AS converted,
            COALESCE(sum(order_value(cr.properties)), 0)::text AS revenue
       FROM credited cr
       -- Credited to another flow's message (or to a version whose goal is another event):
       -- not ours.
       JOIN goals g ON g.version = cr.flow_version AND g.event = cr.name
      WHERE cr.owner_id = $1
      GROUP BY 1, 2`,
    [flowId, [...goalOf.keys()], [...goalOf.values()], windowDays],
  );

  // Assemble: every version in scope, even one nobody entered yet.
  const versions = new Map<number, VersionStats>();
  const versionOf = (v: number): VersionStats => {
    let stats = versions.get(v);
    if (!stats) {
      stats = {
        version: v,
        goalEvent: goalOf.get(v) ?? EVENTS.orderCompleted,
        entered: 0,
        exited: emptyExits(),
        converted: 0,
        revenue: 0,
        steps: [],
      };
      versions.set(v, stats);
    }
    return stats;
  };
  for (const v of goalOf.keys()) versionOf(v);

  for (const r of journeys.rows) {
    const stats = versionOf(r.flow_version);
    stats.entered += r.n;
    stats.exited[r.outcome] = (stats.exited[r.outcome] ?? 0) + r.n;
  }

  const stepOf = (v: number, stepId: string, channel = 'unknown'): StepStats => {
    const stats = versionOf(v);
    let step = stats.steps.find((s) => s.stepId === stepId);
    if (!step) {
      step = { stepId, channel, ...emptyCounts(), skippedByReason: {}, pending: 0 };
      stats.steps.push(step);
    }
    return step;
  };
  for (const r of steps.rows) {
    const step = stepOf(r.flow_version, r.step_id, r.channel);
    Object.assign(step, {
      sent: r.sent,
      skipped: r.skipped,
      failed: r.failed,
      unknown: r.unknown,
      pending: r.pending,
      delivered: r.delivered,
      bounced: r.bounced,
      opened: r.opened,
      clicked: r.clicked,
      unsubscribed: r.unsubscribed,
    });
  }
  for (const r of skips.rows) stepOf(r.flow_version, r.step_id).skippedByReason[r.reason] = r.n;
  for (const r of conversions.rows) {
    const step = stepOf(r.flow_version, r.step_id);
    step.converted = r.converted;
    step.revenue = money(r.revenue);
  }

  const totals = { entered: 0, exited: emptyExits(), ...emptyCounts() };
  const ordered = [...versions.values()].sort((a, b) => a.version - b.version);
  for (const v of ordered) {
    // Steps in the order the version lists them (steps it no longer knows go last).
    const order = stepOrder.get(v.version) ?? [];
    const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
    v.steps.sort((a, b) => rank(a.stepId) - rank(b.stepId) || a.stepId.localeCompare(b.stepId));
    v.converted = v.steps.reduce((n, s) => n + s.converted, 0);
    v.revenue = money(v.steps.reduce((n, s) => n + s.revenue, 0));

    totals.entered += v.entered;
    for (const [reason, n] of Object.entries(v.exited)) totals.exited[reason] = (totals.exited[reason] ?? 0) + n;
    for (const s of v.steps) for (const key of COUNT_KEYS) totals[key] += s[key];
  }
  totals.revenue = money(totals.revenue);

  const holdoutVersions = definitions.rows
    .map((r) => ({ version: r.version, share: r.definition.holdout?.share }))
    .filter((v): v is { version: number; share: number } => v.share !== undefined);
  const holdout =
    holdoutVersions.length > 0
      ? { ...(await holdoutGroups(q, flowId, version, windowDays)), versions: holdoutVersions }
      : null;

  return { flowId, conversionWindowDays: windowDays, totals, versions: ordered, holdout };
}

/** Treated and control totals over the contacts who entered a version with a holdout. */
async function holdoutGroups(
  q: Queryable,
  flowId: string,
  version: number | null,
  windowDays: number,
): Promise<HoldoutLift> {
  const { rows } = await q.query<{
    control: boolean;
    contacts: number;
    converters: number;
    conversions: number;
    revenue: string;
    revenue_squares: string;
  }>(
    `WITH entries AS (
       SELECT j.contact_id, j.started_at,
              (fv.definition -> 'holdout' ->> 'share')::float8 AS share,
              COALESCE(fv.definition -> 'goal' ->> 'event', '${EVENTS.orderCompleted}') AS goal
         FROM journeys j
         JOIN flow_versions fv ON fv.flow_id = j.flow_id AND fv.version = j.flow_version
        WHERE j.flow_id = $1 AND ($2::int IS NULL OR j.flow_version = $2) AND j.status <> 'starting'
          AND json_typeof(fv.definition -> 'holdout' -> 'share') = 'number'
     ),
     contacts AS (
       SELECT DISTINCT ON (contact_id) contact_id, ${holdoutFractionSql('$3::text', 'contact_id')} < share AS control
         FROM entries
        ORDER BY contact_id, started_at
     ),
     conversions AS (
       -- DISTINCT: an event within the windows of two entries of the contact counts once.
       SELECT DISTINCT e.contact_id, ev.id, order_value(ev.properties) AS revenue
         FROM entries e
         JOIN events ev ON ev.contact_id = e.contact_id AND ev.type = 'track' AND ev.name = e.goal
                       AND ev.occurred_at >= e.started_at
                       AND ev.occurred_at <= e.started_at + $4::double precision * interval '24 hours'
     ),
     per_contact AS (
       SELECT c.contact_id, c.control, count(v.id)::int AS conversions, COALESCE(sum(v.revenue), 0) AS revenue
         FROM contacts c
         LEFT JOIN conversions v ON v.contact_id = c.contact_id
        GROUP BY c.contact_id, c.control
     )
     SELECT control, count(*)::int AS contacts, count(*) FILTER (WHERE conversions > 0)::int AS converters,
            COALESCE(sum(conversions), 0)::int AS conversions, COALESCE(sum(revenue), 0)::text AS revenue,
            COALESCE(sum(revenue * revenue), 0)::text AS revenue_squares
       FROM per_contact
      GROUP BY control`,
    [flowId, version, flowHoldoutKey(flowId), windowDays],
  );
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
