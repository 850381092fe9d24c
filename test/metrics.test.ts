/**
 * Prometheus metrics on the real servers (time-skipping Temporal, Postgres, the fake SendGrid): after a scripted run
 * (events accepted and refused, two journeys, one email sent and one skipped for consent, a dead letter, an event
 * left unrouted, a newsletter, a campaign half sent), GET /metrics, on METRICS_PORT's server and on the worker's health port, parses as Prometheus text
 * with a real parser and says what happened. A Postgres that does not answer leaves its gauges out of a scrape that
 * still answers at once.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import parsePrometheusTextFormat, { type MetricFamily, type Sample } from 'parse-prometheus-text-format';
import supertest from 'supertest';
import { upsertContact } from '../db/contacts';
import { insertEvent, type StoredEvent } from '../db/events';
import { createPool } from '../db/pool';
import { skipCategory } from '../metrics/registry';
import { routeStored } from '../routing/router';
import { renderMetrics, startMetricsServer } from '../metrics/server';
import { startWorkerHealthServer } from '../worker/health';
import { decide, type SendFacts, type SendRules } from '../sending/policy';
import { campaignWorkflowId } from '../workflows/campaign-messages';
import { journeyWorkflowId } from '../runtime/journey-identity';
import { Harness } from './helpers/harness';

let h: Harness;
let metricsServer: { server: HttpServer; port: number };
let healthServer: { server: HttpServer; port: number };

beforeAll(async () => {
  h = await Harness.start();
  metricsServer = await startMetricsServer(0, '127.0.0.1', h.db);
  healthServer = await startWorkerHealthServer(
    0,
    { workerState: () => h.worker.getState(), connection: h.env.nativeConnection, db: h.db },
    '127.0.0.1',
  );
  const welcome = {
    name: 'Welcome',
    status: 'live' as const,
    trigger: { event: 'Signed Up' },
    smartSending: { enabled: false },
    steps: [{ id: 'hello', type: 'email' as const, subject: 'Welcome', html: '<p>Hello</p>' }],
  };
  await h.putFlow('welcome', welcome);
  await h.putFlow('tour', { ...welcome, name: 'Tour', trigger: { event: 'Tour Requested' } });
}, 120_000);

afterAll(async () => {
  await new Promise((r) => metricsServer?.server.close(r));
  await new Promise((r) => healthServer?.server.close(r));
  await h?.stop();
});

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:\\\\[\\\\"n]|[^"\\\\\\n])*"';
// Prometheus reads floats as Go's ParseFloat does: NaN and Inf in any case (prom-client writes an empty lag as "Nan").
const NUMBER = '(?:[Nn][Aa][Nn]|[+-]?[Ii][Nn][Ff]|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ${NUMBER}(?: -?\\d+)?$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/**
 * What the npm parser lets through (it keeps "one" as a value, accepts any label name): every line is a comment, a
 * TYPE or HELP line, or a sample of the exposition format's grammar, and every sample belongs to a family typed once
 * before it (histograms' _bucket, _sum and _count to theirs).
 */
function textFormatProblems(text: string): string[] {
  const problems: string[] = [];
  const typed = new Set<string>();
  if (!text.endsWith('\n')) problems.push('the text does not end with a newline');
  for (const line of text.split('\n').filter(Boolean)) {
    const type = TYPE.exec(line);
    if (type) {
      if (typed.has(type[1])) problems.push(`${type[1]} is typed twice`);
      typed.add(type[1]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) problems.push(`not a sample: ${line}`);
    else if (![sample[1], sample[1].replace(/_(bucket|sum|count)$/, '')].some((n) => typed.has(n)))
      problems.push(`no TYPE before ${sample[1]}`);
  }
  return problems;
}

/**
 * One series of the text (`name` with at least `labels`), read from its line: the npm parser merges the labelled
 * series of a histogram into one, so histograms' _count series are read here.
 */
function seriesValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const found = Object.fromEntries(
      [...line.matchAll(/([a-zA-Z_]\w*)="((?:\\.|[^"\\])*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function scrape(port: number): Promise<{ m: MetricFamily[]; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  // The content type Prometheus negotiates for the text format.
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  expect(textFormatProblems(text)).toEqual([]);
  return { m: parsePrometheusTextFormat(text), text };
}

function family(families: MetricFamily[], name: string): MetricFamily | undefined {
  return families.find((f) => f.name === name);
}

/** The value of the sample whose labels include `labels`; undefined when there is none. */
function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = family(families, name)?.metrics.find((m: Sample) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  return sample?.value === undefined ? undefined : Number(sample.value);
}

/** Stored as a request stores it, but left to the test to route (leased away from the router loop). */
async function stored(contactId: string, name: string): Promise<StoredEvent> {
  await upsertContact(h.db, contactId, { email: `${contactId}@example.com` });
  const at = new Date(await h.env.currentTimeMs()).toISOString();
  return (
    await insertEvent(
      h.db,
      { messageId: randomUUID(), type: 'track', contactId, name, occurredAt: at },
      { routeWithinMs: 600_000 },
    )
  ).event;
}

test('the checks used below refuse text that is not Prometheus text (so the scrapes are checked)', () => {
  expect(() => parsePrometheusTextFormat('parcours_x{reason=unquoted} 1\n')).toThrow();
  expect(() => parsePrometheusTextFormat('parcours_x{reason="open" 1\n')).toThrow();
  expect(textFormatProblems('# TYPE parcours_y counter\nparcours_y one\n')).toEqual(['not a sample: parcours_y one']);
  expect(textFormatProblems('parcours_z 1\n')).toEqual(['no TYPE before parcours_z']);
  expect(textFormatProblems('# TYPE a gauge\na{1b="c"} 1\n')).toEqual(['not a sample: a{1b="c"} 1']);
  expect(textFormatProblems('# TYPE a gauge\na{b="c"} 1\n# TYPE a gauge\n')).toEqual(['a is typed twice']);
  expect(textFormatProblems('# TYPE a gauge\na{b="c\\"d",e="f"} -1.5e3 1700000000\n')).toEqual([]);
});

test('after a scripted run, /metrics parses as Prometheus text and counts what happened', async () => {
  const suffix = randomUUID().slice(0, 8);
  const ada = `ada-${suffix}`;
  const bob = `bob-${suffix}`;
  // Two contacts sign up: Ada gets the email, Bob unsubscribed first and is skipped.
  await h.identify(ada, { email: `${ada}@example.com` });
  await h.identify(bob, { email: `${bob}@example.com` });
  const unsubscribed = await h
    .http('put', `/v1/contacts/${bob}/consent/email`)
    .send({ status: 'unsubscribed', source: 'support' });
  expect(unsubscribed.status).toBe(200);
  await h.track({ userId: ada, event: 'Signed Up', messageId: `su-${ada}` });
  await h.track({ userId: bob, event: 'Signed Up', messageId: `su-${bob}` });
  expect(await h.result('welcome', ada)).toMatchObject({ status: 'completed' });
  const bobJourney = await h.result('welcome', bob);
  expect(bobJourney.steps).toEqual([
    expect.objectContaining({ stepId: 'hello', outcome: 'skipped (address is suppressed)' }),
  ]);
  expect(h.sendgrid.emails.map((e) => e.to)).toEqual([`${ada}@example.com`]);

  // A newsletter to both: Ada gets it, Bob (unsubscribed) is skipped.
  expect((await h.http('post', '/v1/lists').send({ id: 'news', name: 'News' })).status).toBe(201);
  const members = await h
    .http('post', '/v1/lists/news/members')
    .send({ contacts: [{ contactId: ada }, { contactId: bob }] });
  expect(members.status).toBeLessThan(300);
  const newsletter = await h.http('put', '/v1/campaigns/news').send({
    name: 'News',
    message: { type: 'email', subject: 'News', html: '<p>News</p><a href="{{ unsubscribe_url }}">unsubscribe</a>' },
    audience: { lists: ['news'] },
  });
  expect(newsletter.status).toBeLessThan(300);
  expect((await h.http('post', '/v1/campaigns/news/send')).status).toBe(202);
  const campaignRun = h.env.client.workflow.getHandle(campaignWorkflowId('news'));
  expect(await campaignRun.result()).toMatchObject({ status: 'completed', sent: 1, skipped: 1 });

  // Refused: a track without its event name, a bad key, and one bad item of a batch whose other item is stored.
  const invalid = await h.http('post', '/v1/track').send({ userId: ada, messageId: `bad-${ada}` });
  expect(invalid.status).toBe(400);
  const badKey = await supertest(h.app)
    .post('/v1/track')
    .set('Authorization', 'Bearer not-a-key')
    .send({ userId: ada, event: 'Page Viewed' });
  expect(badKey.status).toBe(401);
  const batch = await h.http('post', '/v1/batch').send({
    batch: [
      { type: 'track', userId: ada, event: 'Page Viewed', messageId: `pv-${ada}` },
      { type: 'track', userId: ada, messageId: `pv-bad-${ada}` },
    ],
  });
  expect(batch.status).toBe(200);
  expect(batch.body).toMatchObject({ accepted: 1, rejected: 1 });
  await h.allRouted();

  // A dead letter: another router holds the tour entry and never decides it; with a budget of one failure the
  // event is routed, its tour part dead-lettered.
  const carol = `carol-${suffix}`;
  const tour = await stored(carol, 'Tour Requested');
  await h.db.query(
    `INSERT INTO journey_entries (flow_id, trigger_event_id, contact_id, workflow_id) VALUES ('tour', $1, $2, $3)`,
    [tour.id, carol, journeyWorkflowId('tour', carol)],
  );
  const routed = await routeStored(
    { db: h.db, workflows: h.env.client.workflow, log: h.log, routingFailureBudget: 1 },
    tour,
  );
  expect(routed.routing).toBe('done');

  // An event left unrouted, received 90 seconds ago: the backlog and its age.
  const waiting = await stored(`dan-${suffix}`, 'Page Viewed');
  await h.db.query(`UPDATE events SET received_at = now() - interval '90 seconds' WHERE id = $1`, [waiting.id]);

  // A campaign half sent (written as its run freezes it): 3 recipients, 1 settled. A finished one is not reported.
  const sale = 'spring-sale';
  const old = 'winter-sale';
  await h.db.query(
    `INSERT INTO campaigns (id, definition, status) VALUES ($1, '{}', 'sending'), ($2, '{}', 'completed')`,
    [sale, old],
  );
  await h.db.query(
    `INSERT INTO campaign_runs (run_id, campaign_id, definition, status, recipients)
     VALUES ($1 || '-run', $1, '{}', 'sending', 3), ($2 || '-run', $2, '{}', 'completed', 5)`,
    [sale, old],
  );
  await h.db.query(
    `INSERT INTO campaign_recipients (run_id, contact_id, ord, zone, due_at, done)
     SELECT $1 || '-run', 'c' || n, n, 'UTC', now(), n = 1 FROM generate_series(1, 3) n`,
    [sale],
  );

  for (const port of [metricsServer.port, healthServer.port]) {
    const { m, text } = await scrape(port);
    // Ingestion: two identifies, two tracks and the batch's good item; refusals by their error code.
    expect(value(m, 'parcours_events_accepted_total', { type: 'identify' })).toBe(2);
    expect(value(m, 'parcours_events_accepted_total', { type: 'track' })).toBe(3);
    expect(value(m, 'parcours_events_rejected_total', { reason: 'invalid_request' })).toBe(2);
    expect(value(m, 'parcours_events_rejected_total', { reason: 'unauthorized' })).toBe(1);
    // Journeys: both sign-ups started one and both completed (a skipped email does not end a journey early).
    expect(value(m, 'parcours_journeys_started_total')).toBe(2);
    expect(value(m, 'parcours_journeys_ended_total', { status: 'completed', reason: 'none' })).toBe(2);
    expect(value(m, 'parcours_journeys_not_entered_total', { reason: 'failed' })).toBe(1);
    // Sends: one email through SendGrid, one skipped for consent, and the provider call timed.
    expect(value(m, 'parcours_sends_total', { channel: 'email', provider: 'sendgrid', outcome: 'sent' })).toBe(1);
    expect(value(m, 'parcours_sends_total', { channel: 'email', provider: 'sendgrid', outcome: 'skipped' })).toBe(1);
    expect(value(m, 'parcours_send_skips_total', { channel: 'email', reason: 'suppressed' })).toBe(1);
    expect(family(m, 'parcours_provider_request_duration_seconds')?.type).toBe('HISTOGRAM');
    const sendgridCalls = { channel: 'email', provider: 'sendgrid', outcome: 'ok' };
    expect(seriesValue(text, 'parcours_provider_request_duration_seconds_count', sendgridCalls)).toBe(1);
    expect(
      seriesValue(text, 'parcours_provider_request_duration_seconds_bucket', { ...sendgridCalls, le: '+Inf' }),
    ).toBe(1);
    // Segment upkeep runs for every routed event.
    const upkept = seriesValue(text, 'parcours_segment_upkeep_duration_seconds_count', { outcome: 'ok' });
    expect(upkept).toBeGreaterThanOrEqual(5);
    // The newsletter, by page outcome.
    const news = { channel: 'email', provider: 'sendgrid' };
    expect(value(m, 'parcours_campaign_messages_total', { ...news, outcome: 'sent' })).toBe(1);
    expect(value(m, 'parcours_campaign_messages_total', { ...news, outcome: 'skipped' })).toBe(1);
    // Dead letters: the one added, and open.
    expect(value(m, 'parcours_dead_letters_added_total', { kind: 'start' })).toBe(1);
    expect(value(m, 'parcours_dead_letters_open')).toBe(1);
    // The gauges read from Postgres: the event left waiting.
    expect(value(m, 'parcours_metrics_database_up')).toBe(1);
    expect(value(m, 'parcours_routing_backlog_events')).toBe(1);
    expect(value(m, 'parcours_routing_oldest_unrouted_age_seconds')).toBeGreaterThanOrEqual(90);
    expect(value(m, 'parcours_routing_oldest_unrouted_age_seconds')).toBeLessThan(600);
    expect(value(m, 'parcours_campaign_recipients', { campaign: sale })).toBe(3);
    expect(value(m, 'parcours_campaign_recipients_pending', { campaign: sale })).toBe(2);
    expect(value(m, 'parcours_campaign_recipients', { campaign: old })).toBeUndefined();
    // Node's own metrics are there, under their usual names.
    expect(family(m, 'process_cpu_user_seconds_total')?.type).toBe('COUNTER');
    // No contact id or address in any label.
    const labels = m.flatMap((f) => f.metrics.flatMap((s) => Object.values(s.labels ?? {})));
    expect(labels.filter((l) => l.includes(suffix))).toEqual([]);
  }
});

test('a database that does not answer leaves its gauges out, and the scrape answers within its timeout', async () => {
  // A "Postgres" that accepts connections and never says a word.
  const sockets: Socket[] = [];
  const silent: Server = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const db = createPool(`postgres://nobody@127.0.0.1:${port}/nothing`, { connectionTimeoutMs: 10_000 });
  try {
    const started = Date.now();
    const { body } = await renderMetrics(db, 300);
    expect(Date.now() - started).toBeLessThan(2_000);
    const m = parsePrometheusTextFormat(body);
    expect(value(m, 'parcours_metrics_database_up')).toBe(0);
    expect(family(m, 'parcours_routing_backlog_events')).toBeUndefined();
    expect(family(m, 'parcours_dead_letters_open')).toBeUndefined();
    // The counters are still there.
    expect(family(m, 'parcours_events_accepted_total')?.type).toBe('COUNTER');
  } finally {
    for (const s of sockets) s.destroy();
    await db.end().catch(() => undefined);
    await new Promise((r) => silent.close(r));
  }
});

test("skips are grouped by the sending policy's own reasons (a new wording falls into other, and fails here)", () => {
  const facts: SendFacts = {
    to: 'ada@example.com',
    suppressed: false,
    consent: 'never_asked',
    zone: 'UTC',
    lastSentAt: null,
    recent: [],
  };
  const now = Date.parse('2026-03-02T12:00:00Z');
  const rules: SendRules = {
    channel: 'email',
    transactional: false,
    now,
    consentEmail: 'opt_out',
    requireSubscribed: false,
    quietHours: null,
    smartSendingHours: null,
    caps: { allChannels: 0, perChannel: {} },
    whenCapped: 'skip',
  };
  const reason = (f: Partial<SendFacts>, r: Partial<SendRules> = {}) => {
    const decision = decide({ ...facts, ...f }, { ...rules, ...r });
    return decision.kind === 'skip' ? skipCategory(decision.reason) : decision.kind;
  };
  expect(reason({ to: null })).toBe('no_address');
  expect(reason({ suppressed: true })).toBe('suppressed');
  expect(reason({ consent: 'unsubscribed' })).toBe('no_consent');
  expect(reason({}, { consentEmail: 'opt_in' })).toBe('no_consent');
  expect(reason({ lastSentAt: now - 3_600_000 }, { smartSendingHours: 16 })).toBe('smart_sending');
  const sentToday = [{ channel: 'email' as const, at: now - 60_000 }];
  expect(reason({ recent: sentToday }, { caps: { allChannels: 1, perChannel: {} } })).toBe('frequency_cap');
  expect(reason({ recent: sentToday }, { caps: { allChannels: 0, perChannel: { email: 1 } } })).toBe('frequency_cap');
  expect(skipCategory("holdout: control group (10 % of the flow's contacts)")).toBe('holdout');
  expect(skipCategory('template error: unknown filter')).toBe('template_error');
  expect(reason({})).toBe('send');
});
