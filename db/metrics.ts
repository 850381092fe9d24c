/**
 * What the Prometheus gauges read from Postgres at scrape time (metrics/server.ts). Every part is bounded: a
 * scrape every 15 s must stay cheap on a database with a large backlog, and never hang on a slow one.
 */
import { inTransaction, type Db } from './pool';

/** The backlog is counted up to this many events (the gauge then says "at least"). */
export const BACKLOG_COUNT_LIMIT = 100_000;
/** Campaigns reported one by one (those sending or paused, newest first). */
export const CAMPAIGNS_REPORTED = 50;

export interface DatabaseGauges {
  /** Stored events not routed yet (at most BACKLOG_COUNT_LIMIT). */
  routingBacklog: number;
  /** Seconds since the oldest of them was received; 0 without backlog. */
  oldestUnroutedSeconds: number;
  /** Dead letters not resolved by a retry. */
  openDeadLetters: number;
  /** Runs sending or paused, per campaign: recipients frozen and not settled yet. */
  campaigns: { campaignId: string; recipients: number; pending: number }[];
}

export async function readDatabaseGauges(db: Db, timeoutMs: number): Promise<DatabaseGauges> {
  return inTransaction(db, async (tx) => {
    // The server stops the statements itself: a scrape never leaves work running behind it.
    await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    // Both through the partial index of unrouted events (events_routable), limited.
    const routing = await tx.query<{ backlog: string; oldest: number | null }>(
      `SELECT count(*) AS backlog, extract(epoch FROM now() - min(received_at))::float8 AS oldest
         FROM (SELECT received_at FROM events WHERE routed_at IS NULL LIMIT $1) unrouted`,
      [BACKLOG_COUNT_LIMIT],
    );
    const letters = await tx.query<{ n: string }>(
      'SELECT count(*) AS n FROM routing_dead_letters WHERE resolved_at IS NULL',
    );
    const campaigns = await tx.query<{ campaign_id: string; recipients: string; pending: string }>(
      `SELECT r.campaign_id, sum(r.recipients) AS recipients,
              sum((SELECT count(*) FROM campaign_recipients c WHERE c.run_id = r.run_id AND NOT c.done)) AS pending
         FROM (SELECT run_id, campaign_id, recipients FROM campaign_runs WHERE status IN ('sending', 'paused')
                ORDER BY frozen_at DESC LIMIT $1) r
        GROUP BY r.campaign_id`,
      [CAMPAIGNS_REPORTED],
    );
    return {
      routingBacklog: Number(routing.rows[0].backlog),
      oldestUnroutedSeconds: Math.max(0, routing.rows[0].oldest ?? 0),
      openDeadLetters: Number(letters.rows[0].n),
      campaigns: campaigns.rows.map((r) => ({
        campaignId: r.campaign_id,
        recipients: Number(r.recipients),
        pending: Number(r.pending),
      })),
    };
  });
}
