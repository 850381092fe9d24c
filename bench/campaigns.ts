/**
 * `npm run bench:campaigns`: a campaign to BENCH_CAMPAIGN_RECIPIENTS (default 100,000) contacts
 * through the real @sendgrid/mail client (in the worker process, `tsx worker/main.ts`) and a lean
 * fake SendGrid on 127.0.0.1, in three parts, each next to its baseline from the same run:
 * 1. messages/s of the campaign vs what the fake accepts from a bare concurrent client sending
 *    the same recipients in 1,000-personalization requests (goal: ratio >= 0.7);
 * 2. a throttled campaign: the rate the fake saw vs the throttle (goal: within 5 %);
 * 3. a `kill -9` of the worker half way through a campaign: every recipient exactly once
 *    (or recorded "unknown": a page handed to the provider when the worker died, whose request
 *    may or may not have arrived; a page claimed but never handed is sent by the retry).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { sendgridProvider } from '../activities/providers/sendgrid';
import type { OutgoingEmailBatch } from '../activities/providers/types';
import type { CampaignInput } from '../campaigns/schema';
import { startStack, type Stack } from './stack';
import { WorkerProcess } from './worker-process';

const RECIPIENTS = Number(process.env.BENCH_CAMPAIGN_RECIPIENTS ?? 100_000);
/** Throttled part: recipients and rate (about 30 s of sending by default). */
const THROTTLED = Number(process.env.BENCH_CAMPAIGN_THROTTLED ?? 3_000);
const THROTTLE_PER_MINUTE = Number(process.env.BENCH_CAMPAIGN_THROTTLE ?? 6_000);
const BARE_CONCURRENCY = 4;

/** Counts what arrives: each personalization's message id and campaign, and when. */
class LeanSendGrid {
  readonly received: { messageId: string; campaignId: string; at: number }[] = [];
  url = '';
  private server?: Server;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = performance.now();
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          personalizations: { custom_args?: Record<string, string> }[];
        };
        for (const p of body.personalizations)
          this.received.push({
            messageId: p.custom_args?.parcours_message_id ?? '',
            campaignId: p.custom_args?.parcours_campaign_id ?? '',
            at,
          });
        res.writeHead(202, { 'x-message-id': `lean-${this.received.length}` });
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  of(campaignId: string) {
    return this.received.filter((r) => r.campaignId === campaignId);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const print = (line: string) => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`  … ${line}\n`);

async function seedAudience(stack: Stack, list: string, prefix: string, n: number): Promise<void> {
  const db = stack.database.db;
  await db.query(
    `INSERT INTO contacts (id, email) SELECT $1 || lpad(i::text, 7, '0'), $1 || i || '@example.com' FROM ` +
      `generate_series(1, $2::int) AS i ON CONFLICT DO NOTHING`,
    [prefix, n],
  );
  await db.query('INSERT INTO lists (id, name) VALUES ($1, $1)', [list]);
  await db.query(
    "INSERT INTO list_memberships (list_id, contact_id, source) SELECT $1, id, 'bench' FROM contacts WHERE id LIKE " +
      "$2 || '%'",
    [list, prefix],
  );
}

const campaign = (list: string, throttlePerMinute: number | null): CampaignInput => ({
  name: `Bench ${list}`,
  message: { type: 'email', subject: 'Summer selection for {{ contact.email }}', html: '<p>Our summer selection</p>' },
  audience: { lists: [list] },
  throttlePerMinute,
  smartSending: { enabled: false },
});

async function sendAndWait(stack: Stack, id: string, body: CampaignInput): Promise<number> {
  await stack.api.expect([200, 201], 'PUT', `/v1/campaigns/${id}`, body);
  const t0 = performance.now();
  await stack.api.expect(202, 'POST', `/v1/campaigns/${id}/send`);
  await stack.env.client.workflow.getHandle(`campaign:${id}`).result();
  return (performance.now() - t0) / 1000;
}

/** The baseline: the same recipients straight through the real client, 1,000 per request, a few requests at once. */
async function bareClient(fake: LeanSendGrid, n: number): Promise<number> {
  const provider = sendgridProvider({ apiKey: 'SG.bench', baseUrl: fake.url });
  const batches: OutgoingEmailBatch[] = [];
  for (let start = 0; start < n; start += 1000) {
    const size = Math.min(1000, n - start);
    batches.push({
      from: 'shop@example.com',
      html: '<p>Our summer selection</p><a href="%%parcours_unsubscribe%%">unsubscribe</a>',
      personalizations: Array.from({ length: size }, (_, i) => ({
        to: `bare${start + i}@example.com`,
        subject: `Summer selection for bare${start + i}@example.com`,
        customArgs: { parcours_message_id: `bare-${start + i}`, parcours_campaign_id: 'bare' },
        headers: { 'List-Unsubscribe': '<http://127.0.0.1/u/x>' },
        substitutions: { '%%parcours_unsubscribe%%': 'http://127.0.0.1/u/x' },
      })),
    });
  }
  const t0 = performance.now();
  const limit = pLimit(BARE_CONCURRENCY);
  await Promise.all(batches.map((batch) => limit(() => provider.sendBatch!(batch))));
  return (performance.now() - t0) / 1000;
}

async function exactlyOnce(
  stack: Stack,
  fake: LeanSendGrid,
  id: string,
): Promise<{
  recipients: number;
  received: number;
  duplicates: number;
  unknown: number;
  unknownReceived: number;
  unknownNeverHanded: number;
  lost: number;
}> {
  const received = new Map<string, number>();
  for (const r of fake.of(id)) received.set(r.messageId, (received.get(r.messageId) ?? 0) + 1);
  const { rows } = await stack.database.db.query<{ id: string; status: string; handed: boolean }>(
    'SELECT id, status, provider_called_at IS NOT NULL AS handed FROM messages WHERE campaign_id = $1',
    [id],
  );
  const recipients = (
    await stack.database.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM campaign_recipients WHERE run_id = $1`,
      [id],
    )
  ).rows[0].n;
  const byContact = rows.length;
  const unknownRows = rows.filter((r) => r.status === 'unknown');
  const unknown = unknownRows.length;
  // Unknown is right only for a message handed to the provider when the worker died (its
  // request may or may not have arrived); one never handed should have been sent by the retry.
  const unknownReceived = unknownRows.filter((r) => received.has(r.id)).length;
  const unknownNeverHanded = unknownRows.filter((r) => !r.handed).length;
  // Lost: a recipient with no message row, or a row "sent" the provider never received.
  const lost = recipients - byContact + rows.filter((r) => r.status === 'sent' && !received.has(r.id)).length;
  return {
    recipients,
    received: received.size,
    duplicates: [...received.values()].filter((n) => n > 1).length,
    unknown,
    unknownReceived,
    unknownNeverHanded,
    lost,
  };
}

async function main(): Promise<void> {
  const stack = await startStack();
  const fake = await new LeanSendGrid().start();
  const worker = new WorkerProcess({
    temporalAddress: stack.env.address,
    databaseUrl: stack.database.url,
    sendgridBaseUrl: fake.url,
    linkSecret: 'bench-link-secret-0000',
  });
  let failures = 0;
  try {
    progress(`seeding ${RECIPIENTS} + ${THROTTLED} contacts`);
    await seedAudience(stack, 'bench-all', 'bc', RECIPIENTS);
    await seedAudience(stack, 'bench-throttled', 'bt', THROTTLED);
    await worker.start();

    print(`## Campaigns (${RECIPIENTS} recipients, real @sendgrid/mail, fake SendGrid on 127.0.0.1)`);
    progress('bare client');
    const bareSeconds = await bareClient(fake, RECIPIENTS);
    const bareRate = RECIPIENTS / bareSeconds;
    progress('campaign');
    const campaignSeconds = await sendAndWait(stack, 'bench-all', campaign('bench-all', null));
    const campaignRate = fake.of('bench-all').length / campaignSeconds;
    const ratio = campaignRate / bareRate;
    print(
      `| campaign (freeze + pages + record) | ${campaignRate.toFixed(0)} messages/s | bare client, ` +
        `${BARE_CONCURRENCY} requests in flight | ${bareRate.toFixed(0)} messages/s | ratio ${ratio.toFixed(2)} ` +
        `(goal >= 0.7) |`,
    );
    if (ratio < 0.7) failures += 1;
    const once = await exactlyOnce(stack, fake, 'bench-all');
    print(
      `| every recipient once | ${once.received}/${once.recipients} received, ${once.duplicates} duplicates, ` +
        `${once.lost} lost |`,
    );
    if (once.duplicates > 0 || once.lost > 0) failures += 1;

    progress('throttled campaign');
    await sendAndWait(stack, 'bench-throttled', campaign('bench-throttled', THROTTLE_PER_MINUTE));
    const times = fake
      .of('bench-throttled')
      .map((r) => r.at)
      .sort((a, b) => a - b);
    const firstPage = times.filter((t) => t === times[0]).length;
    // The first page goes at once; the rate is what followed it over the time it took.
    const observed = (times.length - firstPage) / ((times[times.length - 1] - times[0]) / 60_000);
    const drift = Math.abs(observed / THROTTLE_PER_MINUTE - 1);
    print(
      `| throttle | ${observed.toFixed(0)} messages/min | set | ${THROTTLE_PER_MINUTE} messages/min | off by ` +
        `${(drift * 100).toFixed(1)} % (goal <= 5 %) |`,
    );
    if (drift > 0.05) failures += 1;

    progress('kill -9 half way');
    await stack.database.db.query("INSERT INTO lists (id, name) VALUES ('bench-kill', 'kill')");
    await stack.database.db.query(
      "INSERT INTO list_memberships (list_id, contact_id, source) SELECT 'bench-kill', id, 'bench' FROM contacts " +
        "WHERE id LIKE 'bc%'",
    );
    await stack.api.expect([200, 201], 'PUT', '/v1/campaigns/bench-kill', campaign('bench-kill', null));
    const t0 = performance.now();
    await stack.api.expect(202, 'POST', '/v1/campaigns/bench-kill/send');
    while (fake.of('bench-kill').length < RECIPIENTS / 2) await new Promise((r) => setTimeout(r, 20));
    await worker.kill();
    const atKill = fake.of('bench-kill').length;
    await worker.start();
    await stack.env.client.workflow.getHandle('campaign:bench-kill').result();
    const killed = await exactlyOnce(stack, fake, 'bench-kill');
    print(
      `| kill -9 at ${atKill} received | ${killed.received}/${killed.recipients} received, ${killed.duplicates} ` +
        `duplicates, ${killed.unknown} recorded unknown (${killed.unknownReceived} of them received, ` +
        `${killed.unknownNeverHanded} never handed to the provider), ${killed.lost} lost, ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s |`,
    );
    if (killed.duplicates > 0 || killed.lost > 0 || killed.unknownNeverHanded > 0) failures += 1;
  } finally {
    await worker.stop().catch(() => undefined);
    await fake.stop();
    await stack.stop();
  }
  process.exit(failures > 0 ? 1 : 0);
}

void main();
