/**
 * The journey worker as its own OS process, started the way a deployment starts it
 * (`tsx worker/main.ts` with the environment), so a `kill -9` hits a real process: open
 * provider calls, activity attempts and workflow tasks die with it, and only what reached
 * Postgres, Temporal or the provider survives.
 *
 * tsx runs the script in a child node process: the worker is started in its own process group
 * and signals go to the whole group, or a SIGKILL would leave the real worker running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../runtime/temporal-binaries';

export interface WorkerSettings {
  temporalAddress: string;
  databaseUrl: string;
  sendgridBaseUrl: string;
  linkSecret: string;
}

/** Last lines of the worker's output, shown when it fails to start. */
const TAIL_LINES = 30;

export class WorkerProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private tail: string[] = [];
  /** How long each start took until the worker polled (the first start bundles the same as later ones). */
  readonly startSeconds: number[] = [];

  constructor(private readonly settings: WorkerSettings) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The benchmark exiting by any path (error, Ctrl-C) must not leave a detached worker behind. */
  private readonly killOnExit = () => {
    if (this.child) this.sendToGroup(this.child, 'SIGKILL');
  };

  /** Starts the worker and resolves once it logs that it runs (it then polls its task queue). */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.child) throw new Error('the worker is already running');
    const t0 = Date.now();
    const child = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['worker/main.ts'], {
      cwd: projectRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.environment(),
    });
    this.child = child;
    process.once('exit', this.killOnExit);
    this.tail = [];
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const ready = new Promise<void>((resolve, reject) => {
      const onLine = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          this.tail.push(line);
          if (this.tail.length > TAIL_LINES) this.tail.shift();
          if (line.includes('"worker running"')) resolve();
        }
      };
      child.stdout?.on('data', onLine);
      child.stderr?.on('data', onLine);
      child.once('exit', (code, signal) =>
        reject(new Error(`the worker exited during start (${signal ?? `code ${code}`}):\n${this.tail.join('\n')}`)),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the worker did not start within ${timeoutMs / 1000} s:\n${this.tail.join('\n')}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ready, expired]);
    } catch (err) {
      await this.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.startSeconds.push((Date.now() - t0) / 1000);
  }

  /** `kill -9` of the worker (its whole process group); resolves once it is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** A graceful stop (SIGTERM: the SDK finishes its open tasks), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    const exited = this.exited;
    if (!this.child || !exited) return;
    const child = this.child;
    this.sendToGroup(child, 'SIGTERM');
    const killLater = setTimeout(() => this.sendToGroup(child, 'SIGKILL'), 20_000);
    await exited;
    clearTimeout(killLater);
    this.forget();
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const exited = this.exited;
    if (!this.child || !exited) return;
    this.sendToGroup(this.child, signal);
    await exited;
    this.forget();
  }

  private forget(): void {
    this.child = undefined;
    process.off('exit', this.killOnExit);
  }

  private sendToGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Only what the worker needs: nothing from the shell (no stray Twilio or VAPID settings). */
  private environment(): NodeJS.ProcessEnv {
    const inherited = Object.fromEntries(
      ['PATH', 'HOME', 'TMPDIR', 'NODE_OPTIONS'].flatMap((name) =>
        process.env[name] ? [[name, process.env[name]]] : [],
      ),
    );
    return {
      ...inherited,
      LOG_LEVEL: 'info',
      DATABASE_URL: this.settings.databaseUrl,
      TEMPORAL_ADDRESS: this.settings.temporalAddress,
      SENDGRID_API_KEY: 'SG.bench-key',
      SENDGRID_BASE_URL: this.settings.sendgridBaseUrl,
      EMAIL_FROM: 'shop@example.com',
      LINK_SECRET: this.settings.linkSecret,
      PUBLIC_URL: 'http://127.0.0.1',
    };
  }
}
