/**
 * Every Prometheus metric of Parcours, defined once, in one registry per process. The API and the worker serve it at
 * GET /metrics (metrics/server.ts: METRICS_PORT, and the worker's health port). Counters are incremented where each
 * fact happens; the gauges that need Postgres are read when scraped, bounded (db/metrics.ts). A folder of its own that
 * imports nothing of the project: activities, routing and the API count here without depending on each other.
 *
 * Labels take only values from a short fixed list (call types, error codes, channels, providers, outcomes) or
 * campaign ids: never a contact id, an address, a flow's free text or an error message, so the number of series
 * stays small whatever the traffic.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
// Node's own (CPU, memory, event loop lag, GC), under their usual names: the dashboards operators already have.
collectDefaultMetrics({ register: registry });

const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
  new Counter<L>({ name, help, labelNames, registers: [registry] });
/**
 * The gauges read from Postgres at scrape time, apart: a scrape whose read failed leaves them out (an unlabelled
 * gauge cannot be absent from its registry, and 0 would read as "no backlog").
 */
const databaseRegistry = new Registry();
const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
  new Gauge<L>({ name, help, labelNames, registers: [databaseRegistry] });

/** Events stored by ingestion (duplicates of an accepted messageId included, as the API's `accepted` counts them). */
export const eventsAccepted = counter(
  'parcours_events_accepted_total',
  'Events accepted by ingestion (API calls, batch items, shop and source deliveries), by call type',
  ['type'],
);
/** Refused events: a batch item, or a whole request (bad body, bad key, rate limit), by its error code. */
export const eventsRejected = counter(
  'parcours_events_rejected_total',
  'Events refused by ingestion (a whole request counts once), by error code',
  ['reason'],
);

export const journeysStarted = counter('parcours_journeys_started_total', 'Journeys started by the router');
export const journeySignals = counter(
  'parcours_journey_signals_total',
  'Events signalled to running journeys by the router',
);
export const journeysNotEntered = counter(
  'parcours_journeys_not_entered_total',
  'Triggers that started no journey: already_in_flow, refused (entry rules), failed (Temporal refused the start)',
  ['reason'],
);
export const journeysEnded = counter(
  'parcours_journeys_ended_total',
  'Journeys ended, by status (completed, exited) and exit reason (none when completed)',
  ['status', 'reason'],
);
export const deadLettersAdded = counter(
  'parcours_dead_letters_added_total',
  'Parts of events dead-lettered by the router (a start or signal refused for good, a budget spent)',
  ['kind'],
);

export const sends = counter(
  'parcours_sends_total',
  'Journey messages by channel, provider and outcome: sent, skipped, deferred (quiet hours, cap wait), ' +
    'failed (the provider refused or errored), unknown (the provider may have it: not sent again)',
  ['channel', 'provider', 'outcome'],
);
export const campaignMessages = counter(
  'parcours_campaign_messages_total',
  'Campaign messages settled by page, by channel, provider and outcome: sent, skipped, deferred, failed, unknown',
  ['channel', 'provider', 'outcome'],
);
export const sendSkips = counter(
  'parcours_send_skips_total',
  'Journey messages skipped, by channel and reason: no_address, suppressed, no_consent, smart_sending, ' +
    'frequency_cap, holdout, template_error, other',
  ['channel', 'reason'],
);
export const providerLatency = new Histogram<'channel' | 'provider' | 'outcome'>({
  name: 'parcours_provider_request_duration_seconds',
  help: 'One provider call of a journey message (SendGrid, Twilio, web push, outbox), by outcome (ok, error)',
  labelNames: ['channel', 'provider', 'outcome'],
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
  registers: [registry],
});
export const segmentUpkeep = new Histogram<'outcome'>({
  name: 'parcours_segment_upkeep_duration_seconds',
  help: 'Keeping the segments that depend on one routed fact live for its contact, by outcome (ok, error)',
  labelNames: ['outcome'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

const routingBacklog = gauge(
  'parcours_routing_backlog_events',
  'Stored events not routed yet (counted up to 100000), read from Postgres at scrape time',
);
const oldestUnrouted = gauge(
  'parcours_routing_oldest_unrouted_age_seconds',
  'Age of the oldest stored event not routed yet (0 without backlog), read at scrape time',
);
const openDeadLetters = gauge(
  'parcours_dead_letters_open',
  'Routing dead letters not resolved by a retry, read at scrape time',
);
const campaignRecipients = gauge(
  'parcours_campaign_recipients',
  'Recipients frozen for the runs of a campaign that are sending or paused, read at scrape time',
  ['campaign'],
);
const campaignPending = gauge(
  'parcours_campaign_recipients_pending',
  'Recipients of the sending or paused runs of a campaign whose message is not settled yet, read at scrape time',
  ['campaign'],
);
const databaseUp = new Gauge({
  name: 'parcours_metrics_database_up',
  help: '1 when the gauges read from Postgres answered within the scrape timeout; 0 and those gauges absent otherwise',
  registers: [registry],
});

/** Why a skip happened, from the reason the message row keeps (sending/policy.ts and send-message.ts word them). */
export function skipCategory(reason: string): string {
  if (/^contact has no /.test(reason)) return 'no_address';
  if (/suppressed/.test(reason)) return 'suppressed';
  if (/^no \w+ consent/.test(reason)) return 'no_consent';
  if (/^smart sending/.test(reason)) return 'smart_sending';
  if (/^frequency cap/.test(reason)) return 'frequency_cap';
  if (/^holdout/.test(reason)) return 'holdout';
  if (/^template error/.test(reason)) return 'template_error';
  return 'other';
}

/** Times one provider call (resolves or rejects as the call does). */
export async function timeProviderCall<T>(channel: string, provider: string, call: () => Promise<T>): Promise<T> {
  const end = providerLatency.startTimer({ channel, provider });
  try {
    const result = await call();
    end({ outcome: 'ok' });
    return result;
  } catch (err) {
    end({ outcome: 'error' });
    throw err;
  }
}

/** Times one segment upkeep (resolves or rejects as it does). */
export async function timeSegmentUpkeep<T>(work: () => Promise<T>): Promise<T> {
  const end = segmentUpkeep.startTimer();
  try {
    const result = await work();
    end({ outcome: 'ok' });
    return result;
  } catch (err) {
    end({ outcome: 'error' });
    throw err;
  }
}

/** One campaign page's outcome (activities/campaign.ts PageOutcome). */
export function countCampaignPage(
  channel: string,
  provider: string,
  page: { sent: number; skipped: number; deferred: number; failed: number; unknown: number },
): void {
  for (const outcome of ['sent', 'skipped', 'deferred', 'failed', 'unknown'] as const)
    if (page[outcome] > 0) campaignMessages.inc({ channel, provider, outcome }, page[outcome]);
}

/**
 * What the router did with one routed event's journeys (routing/route-event.ts RoutingResult); journeys started are
 * counted where Temporal starts them (a retried event reports its earlier starts again).
 */
export function countRouting(result: {
  signalled: unknown[];
  alreadyInFlow: unknown[];
  notEntered: unknown[];
  failed: { kind: string }[];
}): void {
  journeySignals.inc(result.signalled.length);
  journeysNotEntered.inc({ reason: 'already_in_flow' }, result.alreadyInFlow.length);
  journeysNotEntered.inc({ reason: 'refused' }, result.notEntered.length);
  journeysNotEntered.inc({ reason: 'failed' }, result.failed.filter((f) => f.kind === 'start').length);
}

/** What Postgres said at scrape time (db/metrics.ts DatabaseGauges). */
export interface DatabaseGaugeValues {
  routingBacklog: number;
  oldestUnroutedSeconds: number;
  openDeadLetters: number;
  campaigns: { campaignId: string; recipients: number; pending: number }[];
}

/** The text of every metric; the database gauges only when `database` says what Postgres answered now. */
export async function metricsText(database: DatabaseGaugeValues | 'down' | undefined): Promise<string> {
  if (database === 'down') databaseUp.set(0);
  else if (database) {
    setDatabaseGauges(database);
    databaseUp.set(1);
  }
  // Both texts end with a newline; metric names never repeat across the two registries.
  return (await registry.metrics()) + (database && database !== 'down' ? await databaseRegistry.metrics() : '');
}

function setDatabaseGauges(g: DatabaseGaugeValues): void {
  routingBacklog.set(g.routingBacklog);
  oldestUnrouted.set(g.oldestUnroutedSeconds);
  openDeadLetters.set(g.openDeadLetters);
  // A campaign that finished since the last scrape disappears rather than staying at its last value.
  campaignRecipients.reset();
  campaignPending.reset();
  for (const c of g.campaigns) {
    campaignRecipients.set({ campaign: c.campaignId }, c.recipients);
    campaignPending.set({ campaign: c.campaignId }, c.pending);
  }
}
