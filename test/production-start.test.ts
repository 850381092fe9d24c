/**
 * `npm start` as a user meets it when something is wrong: a port already taken or a database
 * that cannot be reached is one line naming the variable; a DATABASE_URL whose database does
 * not exist yet gets it created; when its Temporal dev server dies, the stack stops (exit 1,
 * saying why) instead of answering "deferred" forever; and when npm start itself is killed
 * (kill -9 included) its dev server goes with it, so the next npm start is never refused.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { temporalCli } from '../runtime/temporal-binaries';
import { devServerPidFile } from '../runtime/temporal-dev-server';
import { createTestDatabase, serverUrl } from './helpers/database';
import { waitFor } from './helpers/fake-http';

jest.setTimeout(180_000);

const root = path.resolve(__dirname, '..');
const dataDirs: string[] = [];
const stacks: ChildProcess[] = [];
const orphans: number[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function occupy(port: number, host: string): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer().listen(port, host, () => resolve(server));
  });
}

interface Run {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

async function npmStart(env: Record<string, string>): Promise<Run> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-start-'));
  dataDirs.push(dataDir);
  const child = spawn('npm', ['start'], {
    cwd: root,
    detached: true, // its own process group, so whatever is left can be stopped at once
    env: {
      ...process.env,
      PORT: String(await freePort()),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      PARCOURS_DATA_DIR: dataDir,
      API_KEYS: 'start-key',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  stacks.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out + err, stderr: () => err, exit };
}

/** The lines the user reads, without npm's own report of a failed script. */
const parcoursLines = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('parcours: '));

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const stack of stacks) {
    if (stack.pid && groupAlive(stack.pid)) process.kill(-stack.pid, 'SIGKILL');
  }
  for (const pid of orphans.filter(running)) process.kill(pid, 'SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

test('a PORT already in use is one line naming PORT, and nothing is started', async () => {
  const port = await freePort();
  const taken = await occupy(port, '0.0.0.0');
  const database = await createTestDatabase();
  try {
    const run = await npmStart({ PORT: String(port), DATABASE_URL: database.url });
    expect(await run.exit).toBe(1);
    expect(parcoursLines(run.stderr())).toEqual([
      `parcours: PORT=${port}: port ${port} is already in use (another Parcours or Temporal running?); stop it or set PORT to a free port`,
    ]);
    expect(run.output()).not.toMatch(/\n\s+at /); // no stack trace
  } finally {
    taken.close();
    await database.drop();
  }
});

test('a TEMPORAL_PORT already in use is one line naming TEMPORAL_PORT', async () => {
  const port = await freePort();
  const taken = await occupy(port, '127.0.0.1');
  const database = await createTestDatabase();
  try {
    const run = await npmStart({ TEMPORAL_PORT: String(port), DATABASE_URL: database.url });
    expect(await run.exit).toBe(1);
    const lines = parcoursLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`TEMPORAL_PORT=${port}: port ${port} is already in use`);
    expect(lines[0]).toContain('set TEMPORAL_PORT to a free port');
  } finally {
    taken.close();
    await database.drop();
  }
});

test('a DATABASE_URL nobody answers on is one line naming DATABASE_URL, with the password masked', async () => {
  const run = await npmStart({ DATABASE_URL: 'postgres://parcours:secret-pw@127.0.0.1:1/parcours' });
  expect(await run.exit).toBe(1);
  const lines = parcoursLines(run.stderr());
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^parcours: DATABASE_URL: cannot connect to postgres:\/\/parcours:\*\*\*@127\.0\.0\.1:1\/parcours: /,
  );
  expect(run.output()).not.toContain('secret-pw');
});

test('the database DATABASE_URL names is created when missing; when the dev server dies, npm start stops and says why', async () => {
  const name = `parcours_start_${randomBytes(4).toString('hex')}`;
  const temporalPort = await freePort();
  const apiPort = await freePort();
  const run = await npmStart({
    DATABASE_URL: `${serverUrl()}/${name}`,
    TEMPORAL_PORT: String(temporalPort),
    PORT: String(apiPort),
  });
  const admin = new pg.Client({ connectionString: `${serverUrl()}/postgres` });
  await admin.connect();
  try {
    await waitFor(() => run.output().includes('Parcours is running'), 'npm start to be ready', 120_000);
    expect((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount).toBe(1);
    expect((await fetch(`http://127.0.0.1:${apiPort}/health`)).status).toBe(200);

    // The dev server is the child listening on TEMPORAL_PORT; kill it as a crash would.
    const pids = execFileSync('pgrep', ['-f', `start-dev --ip 127.0.0.1 --port ${temporalPort} `], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    expect(pids).toHaveLength(1);
    process.kill(pids[0]!, 'SIGKILL');

    expect(
      await Promise.race([run.exit, new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000))]),
    ).toBe(1);
    const lines = parcoursLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^parcours: the Temporal dev server \(.+\) exited \(SIGKILL\).*; stopping$/);
    await waitFor(() => !groupAlive(run.child.pid!), 'every process of the stack to exit', 30_000);
    await new Promise<void>((resolve, reject) => {
      const probe = createServer()
        .once('error', reject)
        .listen(apiPort, '127.0.0.1', () => probe.close(() => resolve()));
    });
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
});

/** Running, as opposed to gone or a zombie nobody reaped yet (an orphan's new parent may not reap). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The stack's ports and data folder, kept from one npm start to the next. */
async function stackSettings(databaseUrl: string): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parcours-kill-'));
  dataDirs.push(dataDir);
  return {
    DATABASE_URL: databaseUrl,
    PARCOURS_DATA_DIR: dataDir,
    PORT: String(await freePort()),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
  };
}

async function startedStack(settings: Record<string, string>): Promise<Run & { node: number; devServer: number }> {
  const run = await npmStart(settings);
  await waitFor(
    () => run.output().includes('Parcours is running') || run.child.exitCode !== null,
    'npm start to be ready',
    120_000,
  );
  expect([run.child.exitCode, run.output()]).toEqual([null, expect.stringContaining('Parcours is running')]);
  // `npm start` execs node: the process npm runs is the stack itself.
  const [node, ...others] = execFileSync('pgrep', ['-P', String(run.child.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  expect(others).toEqual([]);
  const devServer = Number(readFileSync(devServerPidFile(settings.PARCOURS_DATA_DIR!), 'utf8'));
  expect(running(devServer)).toBe(true);
  return { ...run, node: node!, devServer };
}

async function expectGone(pids: number[], ports: string[]): Promise<void> {
  await waitFor(() => pids.every((pid) => !running(pid)), `processes ${pids.join(', ')} to exit`, 30_000);
  for (const port of ports) await waitFor(() => portFree(Number(port)), `port ${port} to be free`, 10_000);
}

describe('npm start never leaves its Temporal dev server behind', () => {
  test('kill -9 of the stack: the dev server dies with it (listening only on 127.0.0.1 until then), and the next npm start starts on the same ports', async () => {
    const database = await createTestDatabase();
    try {
      const settings = await stackSettings(database.url);
      const first = await startedStack(settings);
      // HOST's default: this machine only. Another address of the machine is refused.
      const other = Object.values(os.networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      expect((await fetch(`http://127.0.0.1:${settings.PORT}/health`)).status).toBe(200);
      if (other) await expect(fetch(`http://${other}:${settings.PORT}/health`)).rejects.toThrow();

      process.kill(first.node, 'SIGKILL');
      await expectGone([first.node, first.devServer], [settings.PORT!, settings.TEMPORAL_PORT!]);

      const second = await startedStack(settings);
      expect((await fetch(`http://127.0.0.1:${settings.PORT}/health`)).status).toBe(200);
      process.kill(second.child.pid!, 'SIGTERM');
      await expectGone([second.node, second.devServer], [settings.PORT!, settings.TEMPORAL_PORT!]);
    } finally {
      await database.drop();
    }
  });

  test('kill -9 of npm itself: the stack notices, stops its dev server and frees every port; the next npm start starts', async () => {
    const database = await createTestDatabase();
    try {
      const settings = await stackSettings(database.url);
      const first = await startedStack(settings);
      process.kill(first.child.pid!, 'SIGKILL');
      await expectGone([first.node, first.devServer], [settings.PORT!, settings.TEMPORAL_PORT!]);
      expect(parcoursLines(first.stderr())).toEqual([
        'parcours: the npm start this stack runs under is gone; stopping',
      ]);
      // Stopped in order: the pid file went with the dev server.
      expect(existsSync(devServerPidFile(settings.PARCOURS_DATA_DIR!))).toBe(false);

      const second = await startedStack(settings);
      process.kill(second.child.pid!, 'SIGTERM');
      await expectGone([second.node, second.devServer], [settings.PORT!, settings.TEMPORAL_PORT!]);
    } finally {
      await database.drop();
    }
  });

  test('a dev server an earlier npm start left running (where no parent-death signal exists) is stopped by the next one, which then starts on its port', async () => {
    const executable = temporalCli();
    if (executable.type !== 'existing-path')
      throw new Error('the Temporal CLI is not installed (npm run tools:install)');
    const database = await createTestDatabase();
    try {
      const settings = await stackSettings(database.url);
      const dataDir = settings.PARCOURS_DATA_DIR!;
      // As an npm start killed on macOS would leave it: an orphan (its parent, a shell, gone at once, so
      // nobody here reaps it), and its pid in the data folder.
      const args = [
        ...['server', 'start-dev', '--ip', '127.0.0.1', '--port', settings.TEMPORAL_PORT!],
        ...['--ui-port', settings.TEMPORAL_UI_PORT!, '--db-filename', path.join(dataDir, 'temporal.sqlite')],
      ];
      const orphan = {
        pid: Number(
          execFileSync('sh', ['-c', '"$0" "$@" >/dev/null 2>&1 </dev/null & echo $!', executable.path, ...args], {
            encoding: 'utf8',
          }).trim(),
        ),
      };
      orphans.push(orphan.pid);
      writeFileSync(devServerPidFile(dataDir), `${orphan.pid}\n`);
      await waitFor(async () => !(await portFree(Number(settings.TEMPORAL_PORT))), 'the orphan to listen', 30_000);

      const next = await startedStack(settings);
      expect(running(orphan.pid)).toBe(false);
      expect(next.devServer).not.toBe(orphan.pid);
      expect(next.output()).toContain('stopping the Temporal dev server a previous npm start left running');
      process.kill(next.child.pid!, 'SIGTERM');
      await expectGone([next.node, next.devServer], [settings.PORT!, settings.TEMPORAL_PORT!]);
    } finally {
      await database.drop();
    }
  });
});
