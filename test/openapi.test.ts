/**
 * The API contract: /openapi.json lists every route of the app (and no route that is gone), is
 * valid OpenAPI 3.1, and real answers of the running app (real Postgres and Temporal) match the
 * schema documented for their status. /docs/api renders it from a script served by the app.
 * And the probes: with Postgres unreachable, /livez stays 200 while /readyz answers 503.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validate, compileErrors } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import supertest from 'supertest';
import { createApp } from '../api/app';
import { createPool, type Db } from '../db/pool';
import { appRoutes } from './helpers/app-routes';
import { waitFor } from './helpers/fake-http';
import { FreezingProxy } from './helpers/freezing-proxy';
import { API_KEY, Harness, TEST_LINKS, TEST_WEBHOOKS } from './helpers/harness';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}

let h: Harness;
let doc: OpenApi;

beforeAll(async () => {
  h = await Harness.start();
  const res = await supertest(h.app).get('/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body as OpenApi;
});
afterAll(async () => {
  await h?.stop();
});

/** `GET /v1/flows/{id}` as the app names it: `GET /v1/flows/:id`. */
const documentedRoutes = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path.replace(/\{([A-Za-z]+)\}/g, ':$1')}`),
  );

test('every route of the app is in /openapi.json, and every documented route exists', () => {
  const routes = appRoutes(h.app);
  expect(routes.length).toBeGreaterThan(80);
  const documented = documentedRoutes();
  expect(routes.filter((r) => !documented.includes(r))).toEqual([]);
  expect(documented.filter((r) => !routes.includes(r))).toEqual([]);
});

test('the document is valid OpenAPI 3.1', async () => {
  expect(doc.openapi).toBe('3.1.0');
  const result = await validate(structuredClone(doc) as never);
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.valid).toBe(true);
});

test('/docs/api is a page whose script and document the app serves itself (no CDN)', async () => {
  const page = await supertest(h.app).get('/docs/api');
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/text\/html/);
  const scripts = [...page.text.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  expect(scripts).toEqual(['api/reference.js']);
  expect(page.text).not.toMatch(/https?:\/\//);
  expect(page.text).toContain("url: '../openapi.json'");
  const script = await supertest(h.app).get('/docs/api/reference.js');
  expect(script.status).toBe(200);
  expect(script.headers['content-type']).toMatch(/javascript/);
  expect(Number(script.headers['content-length'])).toBeGreaterThan(100_000);
});

// --- answers against their schemas ----------------------------------------------------------------

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
let componentsAdded = false;

/** The documented schema of an answer: by exact status, else its class (`4XX`), else `default`. */
function answerSchema(method: string, path: string, status: number): object | undefined {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
  const response = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
  if (!response) throw new Error(`${method.toUpperCase()} ${path} answered ${status}, which is not documented`);
  return response.content?.['application/json']?.schema;
}

function validateAnswer(method: string, path: string, status: number, body: unknown): string[] {
  if (!componentsAdded) {
    ajv.addSchema({ $id: 'https://parcours.invalid/openapi', components: doc.components });
    componentsAdded = true;
  }
  const schema = answerSchema(method, path, status);
  if (!schema) return [];
  const rooted = JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"https://parcours.invalid/openapi#/components/'),
  ) as object;
  const check = ajv.compile(rooted);
  return check(body) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

interface Call {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The documented path, `{id}` style. */
  path: string;
  url: string;
  body?: object;
  status: number;
}

test('real answers of the main routes match their documented schemas', async () => {
  const flow = {
    name: 'Contract',
    status: 'live',
    trigger: { event: 'Checkout Started' },
    steps: [{ id: 'mail', type: 'email', subject: 'Hi', html: '<p>Hi</p>' }],
  };
  const campaign = {
    name: 'Promo',
    message: { type: 'email', subject: 'Hi', html: '<p>Hi</p><a href="{{ unsubscribe_url }}">unsubscribe</a>' },
    audience: { lists: ['vip'] },
  };
  const product = { title: 'Linen shirt', price: 59.9, currency: 'EUR', categories: ['shirts'] };
  const calls: Call[] = [
    { method: 'post', path: '/v1/identify', url: '/v1/identify', status: 200 },
    { method: 'post', path: '/v1/track', url: '/v1/track', status: 200 },
    { method: 'post', path: '/v1/batch', url: '/v1/batch', status: 200 },
    { method: 'post', path: '/v1/batch', url: '/v1/batch', status: 400 },
    { method: 'post', path: '/v1/track', url: '/v1/track', status: 400 },
    { method: 'put', path: '/v1/flows/{id}', url: '/v1/flows/contract', status: 201, body: flow },
    { method: 'put', path: '/v1/flows/{id}', url: '/v1/flows/contract', status: 400, body: { name: 1 } },
    { method: 'get', path: '/v1/flows', url: '/v1/flows', status: 200 },
    { method: 'get', path: '/v1/flows/{id}', url: '/v1/flows/contract', status: 200 },
    { method: 'get', path: '/v1/flows/{id}', url: '/v1/flows/nope', status: 404 },
    { method: 'post', path: '/v1/flows/{id}/pause', url: '/v1/flows/contract/pause', status: 200 },
    { method: 'get', path: '/v1/flows/{id}/versions', url: '/v1/flows/contract/versions', status: 200 },
    { method: 'get', path: '/v1/flows/{id}/versions/{version}', url: '/v1/flows/contract/versions/1', status: 200 },
    { method: 'get', path: '/v1/contacts', url: '/v1/contacts?limit=1', status: 200 },
    { method: 'get', path: '/v1/contacts', url: '/v1/contacts?cursor=x', status: 400 },
    { method: 'get', path: '/v1/contacts/{id}', url: '/v1/contacts/ada', status: 200 },
    { method: 'get', path: '/v1/contacts/{id}/events', url: '/v1/contacts/ada/events?limit=1', status: 200 },
    { method: 'post', path: '/v1/lists', url: '/v1/lists', status: 201, body: { id: 'vip', name: 'VIP' } },
    { method: 'get', path: '/v1/lists', url: '/v1/lists', status: 200 },
    { method: 'get', path: '/v1/lists/{id}', url: '/v1/lists/vip', status: 200 },
    { method: 'patch', path: '/v1/lists/{id}', url: '/v1/lists/vip', status: 200, body: { name: 'Very' } },
    { method: 'get', path: '/v1/lists/{id}/members', url: '/v1/lists/vip/members', status: 200 },
    { method: 'post', path: '/v1/segments/preview', url: '/v1/segments/preview', status: 200 },
    { method: 'post', path: '/v1/segments', url: '/v1/segments', status: 202 },
    { method: 'get', path: '/v1/segments', url: '/v1/segments', status: 200 },
    { method: 'get', path: '/v1/segments/{id}', url: '/v1/segments/pros', status: 200 },
    { method: 'put', path: '/v1/campaigns/{id}', url: '/v1/campaigns/promo', status: 201, body: campaign },
    { method: 'get', path: '/v1/campaigns', url: '/v1/campaigns', status: 200 },
    { method: 'get', path: '/v1/campaigns/{id}', url: '/v1/campaigns/promo', status: 200 },
    { method: 'get', path: '/v1/segments/{id}', url: '/v1/segments/nope', status: 404 },
    { method: 'get', path: '/v1/contacts/{id}/journeys', url: '/v1/contacts/ada/journeys', status: 200 },
    { method: 'get', path: '/v1/outbox', url: '/v1/outbox', status: 200 },
    { method: 'get', path: '/v1/routing/dead-letters', url: '/v1/routing/dead-letters', status: 200 },
    { method: 'get', path: '/v1/campaigns/{id}', url: '/v1/campaigns/nope', status: 404 },
    { method: 'delete', path: '/v1/lists/{id}', url: '/v1/lists/vip', status: 200 },
    { method: 'put', path: '/v1/products/{id}', url: '/v1/products/linen', status: 201, body: product },
    { method: 'put', path: '/v1/products/{id}', url: '/v1/products/linen', status: 200, body: product },
    { method: 'put', path: '/v1/products/{id}', url: '/v1/products/linen', status: 400, body: { price: -1 } },
    { method: 'get', path: '/v1/products/{id}', url: '/v1/products/linen', status: 200 },
    { method: 'get', path: '/v1/products/{id}', url: '/v1/products/nope', status: 404 },
    { method: 'get', path: '/v1/products', url: '/v1/products?q=linen&limit=1', status: 200 },
    { method: 'get', path: '/v1/products', url: '/v1/products?cursor=x', status: 400 },
    { method: 'delete', path: '/v1/products/{id}', url: '/v1/products/linen', status: 200 },
    { method: 'get', path: '/health', url: '/health', status: 200 },
    { method: 'get', path: '/livez', url: '/livez', status: 200 },
    { method: 'get', path: '/readyz', url: '/readyz', status: 200 },
  ];
  const bodies: Record<string, object> = {
    'post /v1/identify 200': { userId: 'ada', traits: { email: 'ada@example.com', plan: 'pro' } },
    'post /v1/track 200': { userId: 'ada', event: 'Product Viewed', properties: { sku: 'A1' } },
    'post /v1/track 400': { event: 'No one' },
    'post /v1/batch 200': { batch: [{ type: 'track', userId: 'bob', event: 'Viewed' }, { type: 'track' }] },
    'post /v1/batch 400': { batch: [{ type: 'track' }] },
    'post /v1/segments/preview 200': { condition: { profile: { property: 'plan', op: 'equals', value: 'pro' } } },
    'post /v1/segments 202': {
      id: 'pros',
      name: 'Pros',
      condition: { profile: { property: 'plan', op: 'equals', value: 'pro' } },
    },
  };
  const failures: string[] = [];
  for (const call of calls) {
    const body = call.body ?? bodies[`${call.method} ${call.url} ${call.status}`];
    const req = h.http(call.method, call.url);
    const res = await (body ? req.send(body) : req);
    const where = `${call.method.toUpperCase()} ${call.url}`;
    if (res.status !== call.status) {
      failures.push(`${where}: expected ${call.status}, got ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      continue;
    }
    if (!answerSchema(call.method, call.path, res.status)) failures.push(`${where} ${res.status}: no schema`);
    for (const problem of validateAnswer(call.method, call.path, res.status, res.body))
      failures.push(`${where} ${res.status}: ${problem}`);
  }
  expect(failures).toEqual([]);
}, 60_000);

test('an answer that breaks its schema is caught (the check can fail)', () => {
  // A contacts page without nextCursor, and a flow whose version is text.
  expect(validateAnswer('get', '/v1/contacts', 200, { contacts: [], next_cursor: null })).not.toEqual([]);
  expect(validateAnswer('get', '/v1/flows/{id}', 200, { id: 'x', version: '1', status: 'live' })).not.toEqual([]);
  expect(() => validateAnswer('get', '/v1/flows', 302, {})).toThrow(/not documented/);
});

// --- probes --------------------------------------------------------------------------------------

test('Postgres unreachable: /livez stays 200, /readyz and /health answer 503', async () => {
  const proxy = new FreezingProxy();
  const direct = new URL(h.database.url);
  const viaProxy = new URL(h.database.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(await proxy.start(direct.hostname, Number(direct.port || 5432)));
  const db: Db = createPool(viaProxy.toString(), { connectionTimeoutMs: 1_000, queryTimeoutMs: 1_000 });
  const app = createApp({
    db,
    workflows: h.env.client.workflow,
    log: h.log,
    apiKeys: [API_KEY],
    links: TEST_LINKS,
    webhooks: TEST_WEBHOOKS,
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const api = () => supertest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    expect((await api().get('/readyz')).status).toBe(200);
    proxy.freeze();
    const live = await api().get('/livez');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok' });
    for (const probe of ['/readyz', '/health']) {
      const started = Date.now();
      const res = await api().get(probe);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'unavailable', postgres: { ok: false } });
      expect(res.headers['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    expect(validateAnswer('get', '/readyz', 503, (await api().get('/readyz')).body)).toEqual([]);
    // Still alive after the readiness probes failed: nothing would restart it.
    expect((await api().get('/livez')).status).toBe(200);
    proxy.thaw();
    await waitFor(async () => (await api().get('/readyz')).status === 200, '/readyz to answer 200 again');
  } finally {
    proxy.thaw();
    await new Promise((resolve) => server.close(resolve));
    await db.end().catch(() => undefined);
    await proxy.stop();
  }
}, 60_000);
