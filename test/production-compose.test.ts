/**
 * docker-compose.yml and the Dockerfile cannot be run here (no Docker engine): these checks keep
 * them consistent with the code. Every setting passes through under its own name, the required
 * ones refuse to start without a value, nothing unauthenticated is published beyond the host, and
 * the commands run files that `npm run build` produces.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ENV_VARIABLES, readEnv } from '../runtime/env';
import { PRODUCTION_ENTRY_POINTS } from '../scripts/build';

const root = path.resolve(__dirname, '..');

const service = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  ports: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
  healthcheck: z.object({ test: z.array(z.string()) }).optional(),
});
const compose = z
  .object({ 'x-parcours-env': z.record(z.string(), z.string()), services: z.record(z.string(), service) })
  .parse(parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')));
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const parcoursServices = ['migrate', 'api', 'worker'];

test('every variable of runtime/env.ts reaches the API, the worker and the migrations, under its own name', () => {
  const env = compose['x-parcours-env'];
  expect(ENV_VARIABLES.filter((name) => !(name in env))).toEqual([]);
  for (const [name, value] of Object.entries(env)) {
    expect([name, value]).toEqual([name, expect.stringMatching(new RegExp(`^\\$\\{${name}:[-?]`))]);
  }
  for (const name of parcoursServices) expect(compose.services[name]?.environment).toEqual(env);
});

test('PUBLIC_URL, API_KEYS and LINK_SECRET are required: compose refuses to start without them', () => {
  for (const name of ['PUBLIC_URL', 'API_KEYS', 'LINK_SECRET']) {
    expect(compose['x-parcours-env'][name]).toMatch(new RegExp(`^\\$\\{${name}:\\?.+\\}$`));
  }
});

test("compose's rate limits default to those of runtime/env.ts", () => {
  const defaults = readEnv({});
  for (const name of [
    'RATE_LIMIT_WRITE_PER_SECOND',
    'RATE_LIMIT_WRITE_BURST',
    'RATE_LIMIT_ADMIN_PER_SECOND',
    'RATE_LIMIT_ADMIN_BURST',
  ] as const) {
    expect([name, compose['x-parcours-env'][name]]).toEqual([name, `\${${name}:-${defaults[name]}}`]);
  }
});

test('only the API is published on every interface; the Temporal frontend and UI only on 127.0.0.1', () => {
  for (const [name, { ports = [] }] of Object.entries(compose.services)) {
    if (name === 'api') continue;
    expect([name, ports.filter((p) => !p.startsWith('127.0.0.1:'))]).toEqual([name, []]);
  }
  expect(compose.services.postgres?.ports).toBeUndefined();
});

test('in the containers the API and the worker health check listen on the container network (HOST=0.0.0.0), not the default 127.0.0.1', () => {
  expect(readEnv({}).HOST).toBe('127.0.0.1');
  expect(compose['x-parcours-env'].HOST).toMatch(/^\$\{HOST:-0\.0\.0\.0\}$/);
  expect(dockerfile).toMatch(/^\s+HOST=0\.0\.0\.0 \\$/m);
});

test('the maintained Temporal server image, after a one-shot admin-tools schema set-up of the same version', () => {
  const images = Object.values(compose.services).map((s) => s.image ?? '');
  expect(images.filter((image) => image.includes('auto-setup'))).toEqual([]);
  const server = compose.services.temporal!;
  const version = server.image?.match(/^temporalio\/server:(.+)$/)?.[1];
  expect(version).toBeDefined();
  expect(server.depends_on?.['temporal-schema']).toEqual({ condition: 'service_completed_successfully' });
  expect(compose.services['temporal-schema']?.image).toBe(`temporalio/admin-tools:${version}`);
  expect(compose.services['temporal-namespace']?.image).toBe(`temporalio/admin-tools:${version}`);
  for (const name of ['api', 'worker']) {
    expect(compose.services[name]?.depends_on).toMatchObject({
      migrate: { condition: 'service_completed_successfully' },
      'temporal-namespace': { condition: 'service_completed_successfully' },
    });
  }
});

test('the API and the worker have healthchecks, and every command runs a file the build produces', () => {
  const built = new Set(PRODUCTION_ENTRY_POINTS.map((entry) => `dist/${entry.replace(/\.ts$/, '.js')}`));
  const run = (s: z.infer<typeof service>) => [
    ...(Array.isArray(s.command) ? s.command : []),
    ...(s.healthcheck?.test ?? []),
  ];
  const files = parcoursServices
    .flatMap((name) => run(compose.services[name]!))
    .filter((arg) => arg.startsWith('dist/'));
  expect(files.length).toBeGreaterThanOrEqual(5);
  expect(files.filter((file) => !built.has(file))).toEqual([]);
  expect(compose.services.api?.healthcheck?.test).toEqual(['CMD', 'node', 'dist/scripts/health-probe.js', 'api']);
  expect(compose.services.worker?.healthcheck?.test).toEqual(['CMD', 'node', 'dist/scripts/health-probe.js', 'worker']);
  expect(compose['x-parcours-env'].WORKER_HEALTH_PORT).toMatch(/^\$\{WORKER_HEALTH_PORT:-\d+\}$/);
});

test('the Dockerfile builds with `npm run build`, installs with `npm ci --omit=dev` and runs on an even-numbered (LTS) Node >= 22', () => {
  expect(dockerfile).toContain('RUN npm run build -- --out /runtime/dist');
  expect(dockerfile).toMatch(/^RUN npm ci --omit=dev /m);
  const node = dockerfile.match(/^ARG NODE_IMAGE=node:(\d+)-/m)?.[1];
  expect(Number(node) >= 22 && Number(node) % 2 === 0).toBe(true);
  expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/api\/server\.js"\]$/m);
  const instructions = dockerfile
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
  expect(instructions).not.toMatch(/tsx|npm run (api|worker)|npm start/);
});
