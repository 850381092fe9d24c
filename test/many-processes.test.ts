/**
 * Many processes, one behaviour: TWO API and TWO worker processes, each started from the one
 * composition root (`api/server.ts`, `worker/main.ts`), against ONE Temporal dev server and
 * ONE Postgres database, with fake SendGrid and Twilio. What one process guarantees must hold
 * across them: a contact's events routed in order whichever API took them (single calls and
 * batches mixed), a frequency cap of one a day with two journeys started through different APIs,
 * a campaign paged by both workers with each recipient reached once, and journey emails sent
 * exactly once, none lost, through a kill -9 of one worker mid-run (last: the other worker takes
 * over its journeys).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import supertest from 'supertest';
import type { CampaignInput } from '../campaigns/schema';
import type { FlowInput } from '../flows/schema';
import { temporalCli } from '../runtime/temporal-binaries';
import { campaignWorkflowId } from '../workflows/campaign-messages';
import { JOURNEY_SEARCH_ATTRIBUTES, journeyWorkflowId } from '../runtime/journey-identity';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { deliveriesOf, FakeSendGrid } from './helpers/fake-sendgrid';
import { FakeTwilio } from './helpers/fake-twilio';
import { waitFor } from './helpers/fake-http';
import { API_KEY, TEST_LINKS, TWILIO_SID } from './helpers/harness';

jest.setTimeout(300_000);

const root = path.resolve(__dirname, '..');

interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let sendgrid: FakeSendGrid;
let twilio: FakeTwilio;
let dataDir: string;
const procs: Proc[] = [];
let apis: string[] = [];
let workers: Proc[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = (server.address() as AddressInfo) ?? { port: 0 };
      server.close(() => resolve(port));
    });
  });
}

/** One role of the stack in a process of its own, configured as a deployment would be. */
function spawnRole(name: string, entry: string, extra: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: env.address,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PARCOURS_DATA_DIR: dataDir,
      API_KEYS: API_KEY,
      LINK_SECRET: TEST_LINKS.secret,
      PUBLIC_URL: TEST_LINKS.publicUrl,
      SENDGRID_API_KEY: 'SG.test-key',
      SENDGRID_BASE_URL: sendgrid.url,
      EMAIL_FROM: 'shop@example.com',
      TWILIO_ACCOUNT_SID: TWILIO_SID,
      TWILIO_AUTH_TOKEN: 'twilio-token',
      TWILIO_FROM: '+15550000000',
      TWILIO_BASE_URL: twilio.url,
      // One marketing email per contact and day, whichever worker sends it.
      FREQUENCY_CAP_EMAIL_PER_DAY: '1',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { name, child, output: () => out, exited };
  procs.push(proc);
  return proc;
}

async function ready(proc: Proc, says: string): Promise<void> {
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code));
  await waitFor(
    () => {
      if (exitCode !== undefined) throw new Error(`${proc.name} exited (${exitCode}): ${proc.output()}`);
      return proc.output().includes(says);
    },
    `${proc.name} to say "${says}"`,
    180_000,
  );
}

beforeAll(async () => {
  database = await createTestDatabase();
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: temporalCli(),
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: JOURNEY_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'error' },
    },
  });
  sendgrid = await new FakeSendGrid().start();
  twilio = await new FakeTwilio().start();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-many-'));
  const ports = [await freePort(), await freePort()];
  const apiProcs = ports.map((port, i) => spawnRole(`api-${i + 1}`, 'api/server.ts', { PORT: String(port) }));
  workers = [1, 2].map((i) =>
    // A dead worker's claimed sends are taken over after this lease (the default is 30 s).
    spawnRole(`worker-${i}`, 'worker/main.ts', { WORKER_ACTIVITY_CONCURRENCY: '20' }),
  );
  await Promise.all([
    ...apiProcs.map((p) => ready(p, 'API listening')),
    ...workers.map((w) => ready(w, 'worker running')),
  ]);
  apis = ports.map((port) => `http://127.0.0.1:${port}`);
});

afterAll(async () => {
  for (const proc of procs) proc.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await env?.teardown();
  await sendgrid?.stop();
  await twilio?.stop();
  await database?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const api = (n: number, method: 'get' | 'post' | 'put', url: string) =>
  supertest(apis[n % 2])
    [method](url)
    .set('Authorization', `Bearer ${API_KEY}`);

async function ok(res: Promise<supertest.Response> | supertest.Test, what: string): Promise<supertest.Response> {
  const r = await res;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

const putFlow = (id: string, flow: FlowInput) => ok(api(0, 'put', `/v1/flows/${id}`).send(flow), `PUT flow ${id}`);

const track = (n: number, userId: string, event: string, properties: Record<string, unknown> = {}) =>
  ok(api(n, 'post', '/v1/track').send({ userId, event, properties, messageId: randomUUID() }), `track ${event}`);

const batch = (n: number, calls: Record<string, unknown>[]) =>
  ok(api(n, 'post', '/v1/batch').send({ batch: calls.map((c) => ({ messageId: randomUUID(), ...c })) }), 'batch');

/** Contacts with an email address, identified through both APIs (a batch each half). */
async function contacts(prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const half = Math.ceil(count / 2);
  for (const [n, part] of [ids.slice(0, half), ids.slice(half)].entries()) {
    for (let i = 0; i < part.length; i += 500)
      await batch(
        n,
        part.slice(i, i + 500).map((id) => ({ type: 'identify', userId: id, traits: { email: `${id}@example.com` } })),
      );
  }
  return ids;
}

const emailsTo = (to: string) => deliveriesOf(sendgrid).filter((e) => e.to === to);

const oneEmail = (trigger: string, subject: string, extra: Partial<FlowInput> = {}): FlowInput => ({
  name: subject,
  status: 'live',
  trigger: { event: trigger },
  // Smart sending would hide what the cap does (and is per contact anyway): off.
  smartSending: { enabled: false },
  quietHours: { email: null, sms: null, push: null },
  steps: [{ id: 'mail', type: 'email', subject, html: `<p>${subject}</p>` }],
  ...extra,
});

interface JourneyRow {
  flowId: string;
  status: string;
  exitReason: string | null;
}
/**
 * The contact's journey in the flow once it has ended, as the API shows it (through either API
 * process). Read there rather than from the workflow's result, which is the contact's personal
 * data: the test's own client may not be able to decode it. An event answered "deferred" (an
 * earlier one of its contact was still being routed) starts its journey a moment later.
 */
function journeyEnded(flowId: string, contactId: string): Promise<JourneyRow> {
  let n = 0;
  return waitFor(
    async () => {
      const res = await api(n++, 'get', `/v1/contacts/${contactId}/journeys`);
      const journey = (res.body.journeys as JourneyRow[] | undefined)?.find((j) => j.flowId === flowId);
      return journey && journey.status !== 'running' && journey.status !== 'starting' ? journey : undefined;
    },
    `the ${flowId} journey of ${contactId} to end`,
    120_000,
  );
}

test('a contact whose events go to both APIs in turn (single calls and batches) is routed in order: an order after a checkout ends the abandoned-cart journey, no email', async () => {
  await putFlow('cart', {
    ...oneEmail('Checkout Started', 'You left something'),
    exitWhen: [{ event: 'Order Completed' }],
    steps: [
      { id: 'wait', type: 'delay', duration: '8 seconds' },
      { id: 'mail', type: 'email', subject: 'You left something', html: '<p>Your cart</p>' },
    ],
  });
  const shoppers = await contacts('shopper', 24);
  // Each shopper: a page view, the checkout, a second view, then the order, alternating APIs and
  // call shapes; the shoppers side by side, so every router in the four processes has work.
  await Promise.all(
    shoppers.map(async (id, i) => {
      const first = i % 2;
      if (i % 3 === 0) {
        await batch(first, [
          { type: 'track', userId: id, event: 'Product Viewed' },
          { type: 'track', userId: id, event: 'Checkout Started', properties: { total: 10 } },
        ]);
        await track(first + 1, id, 'Order Completed');
      } else if (i % 3 === 1) {
        await track(first, id, 'Checkout Started', { total: 10 });
        await batch(first + 1, [
          { type: 'track', userId: id, event: 'Product Viewed' },
          { type: 'track', userId: id, event: 'Order Completed' },
        ]);
      } else {
        await batch(first, [{ type: 'track', userId: id, event: 'Checkout Started', properties: { total: 10 } }]);
        await batch(first + 1, [{ type: 'track', userId: id, event: 'Product Viewed' }]);
        await track(first, id, 'Order Completed');
      }
    }),
  );

  const journeys = await Promise.all(shoppers.map((id) => journeyEnded('cart', id)));
  for (const journey of journeys) expect(journey).toMatchObject({ status: 'exited', exitReason: 'flow_filter' });
  for (const id of shoppers) expect(emailsTo(`${id}@example.com`)).toEqual([]);
  // Each order was routed after its checkout: it reached the running journey as a signal.
  const orders = await database.db.query<{ contact_id: string; routing_result: { signalled: { flowId: string }[] } }>(
    "SELECT contact_id, routing_result FROM events WHERE name = 'Order Completed' AND contact_id LIKE 'shopper-%'",
  );
  expect(orders.rows.map((r) => r.contact_id).sort()).toEqual([...shoppers].sort());
  for (const order of orders.rows) expect(order.routing_result.signalled.map((j) => j.flowId)).toEqual(['cart']);
  // Every event of these contacts was routed, each once and in the order stored.
  const { rows } = await database.db.query<{ unrouted: string }>(
    "SELECT count(*) AS unrouted FROM events WHERE contact_id LIKE 'shopper-%' AND routed_at IS NULL",
  );
  expect(Number(rows[0].unrouted)).toBe(0);
});

test('a frequency cap of one email a day holds when two journeys of one contact start through different APIs at once', async () => {
  await putFlow('promo-a', oneEmail('Promo A Started', 'Promo A'));
  await putFlow('promo-b', oneEmail('Promo B Started', 'Promo B'));
  const people = await contacts('capped', 10);

  await Promise.all(people.flatMap((id) => [track(0, id, 'Promo A Started'), track(1, id, 'Promo B Started')]));
  await Promise.all(people.flatMap((id) => [journeyEnded('promo-a', id), journeyEnded('promo-b', id)]));

  for (const id of people) expect(emailsTo(`${id}@example.com`)).toHaveLength(1);
  // One of the two sent, the other skipped by the cap, whichever worker ran which.
  const { rows } = await database.db.query<{ contact_id: string; status: string; reason: string | null }>(
    "SELECT contact_id, status, reason FROM messages WHERE flow_id IN ('promo-a', 'promo-b') ORDER BY status",
  );
  for (const id of people)
    expect(rows.filter((r) => r.contact_id === id).map((r) => [r.status, r.reason?.split(':')[0] ?? null])).toEqual([
      ['sent', null],
      ['skipped', 'frequency cap'],
    ]);
});

test('a campaign to a few hundred recipients is paged by both workers, each recipient reached once', async () => {
  const recipients = await contacts('reader', 320);
  await ok(api(1, 'post', '/v1/lists').send({ id: 'readers', name: 'Readers' }), 'list');
  await ok(
    api(0, 'post', '/v1/lists/readers/members').send({ contacts: recipients.map((contactId) => ({ contactId })) }),
    'members',
  );
  const campaign: CampaignInput = {
    name: 'Autumn letter',
    message: { type: 'email', subject: 'Autumn letter', html: '<p>Autumn</p><a href="{{ unsubscribe_url }}">stop</a>' },
    audience: { lists: ['readers'] },
    // 40 recipients a page (a page is what the throttle allows in about 5 s): eight pages.
    throttlePerMinute: 480,
  } as CampaignInput;
  await ok(api(1, 'put', '/v1/campaigns/autumn').send(campaign), 'PUT campaign');
  await ok(api(0, 'post', '/v1/campaigns/autumn/send'), 'send campaign');
  const handle = env.client.workflow.getHandle(campaignWorkflowId('autumn'));
  const progress = (await handle.result()) as { status: string; sent: number; pages: number };

  expect(progress).toMatchObject({ status: 'completed', sent: 320 });
  const sent = deliveriesOf(sendgrid)
    .filter((d) => d.customArgs.parcours_campaign_id === 'autumn')
    .map((d) => d.to);
  expect(sent).toHaveLength(320);
  expect(new Set(sent).size).toBe(320);
  // Which worker took each page: the identity (pid@host) on the page activity's start.
  const history = await handle.fetchHistory();
  const pageTakers = new Set<string>();
  const pageActivities = new Set<string>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'sendCampaignPage') pageActivities.add(String(e.eventId));
    const started = e.activityTaskStartedEventAttributes;
    if (started && pageActivities.has(String(started.scheduledEventId)) && started.identity)
      pageTakers.add(started.identity);
  }
  expect(pageActivities.size).toBeGreaterThanOrEqual(8);
  expect(pageTakers.size).toBe(2);
});

test('one worker killed (kill -9) mid-run: no journey email is sent twice, none is lost silently, the other worker finishes the journeys', async () => {
  // A welcome, then a receipt a few seconds later (transactional: the cap of one a day does not
  // apply); the second emails of the dead worker's journeys are the other worker's to send.
  await putFlow('welcome', {
    ...oneEmail('Joined', 'Welcome aboard'),
    steps: [
      { id: 'welcome', type: 'email', subject: 'Welcome aboard', html: '<p>Welcome</p>' },
      { id: 'wait', type: 'delay', duration: '4 seconds' },
      { id: 'receipt', type: 'email', subject: 'Your account', html: '<p>Account</p>', transactional: true },
    ],
  });
  const members = await contacts('member', 40);
  // SendGrid answers slowly, so sends are in flight on both workers when one dies.
  sendgrid.enqueue(...members.map(() => ({ status: 202, delayMs: 400 })));
  const welcomes = () => deliveriesOf(sendgrid).filter((e) => e.subject === 'Welcome aboard').length;

  await Promise.all(members.map((id, i) => track(i, id, 'Joined')));
  await waitFor(() => welcomes() >= 8, 'sends under way');
  const [victim] = workers;
  victim.child.kill('SIGKILL');
  await victim.exited;
  // Killed mid-run: no journey had sent its receipt yet.
  expect(deliveriesOf(sendgrid).filter((e) => e.subject === 'Your account')).toEqual([]);

  const journeys = await Promise.all(members.map((id) => journeyEnded('welcome', id)));
  for (const journey of journeys) expect(journey.status).toBe('completed');
  // Statuses recorded per member and step.
  const { rows } = await database.db.query<{ contact_id: string; step_id: string; status: string }>(
    "SELECT contact_id, step_id, status FROM messages WHERE flow_id = 'welcome'",
  );
  const status = (id: string, step: string) => rows.find((r) => r.contact_id === id && r.step_id === step)?.status;
  for (const id of members) {
    const subjects = emailsTo(`${id}@example.com`).map((e) => e.subject);
    // The receipt, sent after the kill: exactly once, by whichever worker runs the journey now.
    expect(subjects.filter((s) => s === 'Your account')).toEqual(['Your account']);
    expect(status(id, 'receipt')).toBe('sent');
    // The welcome never twice. One the dead worker had handed to SendGrid is recorded "unknown"
    // and never sent again (SendGrid cannot be asked whether it arrived: marketing is at most
    // once); every other one was sent, once.
    const welcomes = subjects.filter((s) => s === 'Welcome aboard');
    expect(welcomes.length).toBeLessThanOrEqual(1);
    if (welcomes.length === 0) expect(status(id, 'welcome')).toBe('unknown');
    else expect(['sent', 'unknown']).toContain(status(id, 'welcome'));
  }
  expect(rows.filter((r) => r.status !== 'sent' && r.status !== 'unknown')).toEqual([]);
  // The dead worker had journeys under way (the default worker identity is pid@host): the other finished them.
  const victimIdentity = `${victim.child.pid}@${os.hostname()}`;
  let victimJourneys = 0;
  for (const id of members) {
    const history = await env.client.workflow.getHandle(journeyWorkflowId('welcome', id)).fetchHistory();
    const identities = (history.events ?? []).map(
      (e) => e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity,
    );
    if (identities.includes(victimIdentity)) victimJourneys += 1;
  }
  expect(victimJourneys).toBeGreaterThan(0);
});
