/**
 * What only `npm start` does: development keys, link secret and secrets key kept under the data folder, the
 * summary it prints, and noticing that the `npm start` it runs under is gone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A development secret kept under the data folder (stable across restarts). */
export function developmentSecret(dataDir: string, name: string, prefix: string): string {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = `${prefix}${randomBytes(16).toString('hex')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** A development encryption key (32 random bytes, base64) kept under the data folder, like the secrets above. */
export function developmentKey(dataDir: string, name: string): Buffer {
  const file = path.join(dataDir, name);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

/** How a user on this machine reaches a server listening on `host`. */
export function reachableAt(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/**
 * Calls `onGone` once the process that started us has exited (our parent pid changes when we are
 * re-parented). `npm start` execs node, so that parent is npm itself: a kill -9 of npm stops the
 * stack (and with it the Temporal dev server) instead of leaving it running unseen.
 */
export function watchParent(onGone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
