/**
 * A breaker per Postgres pool, shaped like the Temporal one (routing/temporal-health.ts): a
 * database that hangs (SIGSTOP, a stalled disk, a silent network) answers nothing at all, so
 * without it every request waits out its own connection and query timeouts (5 s, 17 s) and
 * the pool fills with calls that will never end.
 *
 * While calls are in flight, a watchdog looks at the oldest: once it has waited HANG_SUSPECT_MS
 * it probes with a fresh connection and `SELECT 1` under PROBE_DEADLINE_MS. A slow query on a
 * healthy server does not open it (the probe answers, or some other call completes meanwhile);
 * silence everywhere does. Open, every call through the pool fails at once with
 * DatabaseHungError (the API answers 503), the calls in flight are abandoned with the same
 * error, and a probe runs in the background until Postgres answers again.
 */
import { EventEmitter } from 'node:events';

/** How long the oldest call in flight waits before a probe asks whether Postgres is hung. */
export const HANG_SUSPECT_MS = 500;
/** A fresh connection and `SELECT 1` on a live server take milliseconds; a hung one never answers. */
export const PROBE_DEADLINE_MS = 1_000;
/** Pause between probes while open: it closes within this long of Postgres answering again. */
const PROBE_INTERVAL_MS = 250;
/** Closed, a long query keeps the oldest call old: one probe a second is enough to tell slow from hung. */
const SUSPECT_PROBE_GAP_MS = 1_000;
const WATCH_EVERY_MS = 100;

/** The code isDatabaseUnavailable (db/pool.ts) knows: the API answers 503 with Retry-After. */
export const DATABASE_HUNG = 'PARCOURS_DATABASE_HUNG';

export class DatabaseHungError extends Error {
  readonly code = DATABASE_HUNG;
  constructor() {
    super('the database is not answering (a probe got no answer within 1 s); retry later');
    this.name = 'DatabaseHungError';
  }
}

interface InFlight {
  startedAt: number;
  abandon(): void;
}

export class DatabaseBreaker extends EventEmitter {
  private open = false;
  private readonly inFlight = new Set<InFlight>();
  /** When a call last got an answer from the server (a result or an error it sent). */
  private lastAnswerAt = Date.now();
  private lastProbeAt = 0;
  private probing = false;
  private watchdog?: NodeJS.Timeout;
  private stopped = false;

  /**
   * `probe` opens a new connection (not from the pool, which may be full of stuck calls) and
   * runs `SELECT 1`, rejecting past the deadline it is given.
   */
  constructor(private readonly probe: (deadlineMs: number) => Promise<void>) {
    super();
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Runs one call to Postgres under the breaker: refused at once while open, abandoned (with
   * `onAbandon` given the call, to clean up after it) when the breaker opens under it.
   */
  guard<T>(start: () => Promise<T>, onAbandon?: (call: Promise<T>) => void): Promise<T> {
    if (this.open) return Promise.reject(new DatabaseHungError());
    const call = start();
    return new Promise<T>((resolve, reject) => {
      const entry: InFlight = {
        startedAt: Date.now(),
        abandon: () => {
          reject(new DatabaseHungError());
          onAbandon?.(call);
        },
      };
      this.inFlight.add(entry);
      this.watch();
      call.then(
        (value) => {
          if (!this.inFlight.delete(entry)) return;
          this.lastAnswerAt = Date.now();
          resolve(value);
        },
        (err: unknown) => {
          if (!this.inFlight.delete(entry)) return;
          // An error with a SQLSTATE came from the server: it is alive, whatever it said.
          if (isServerAnswer(err)) this.lastAnswerAt = Date.now();
          reject(err);
        },
      );
    });
  }

  /** Ends the background probing (the pool is being closed). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private watch(): void {
    if (this.watchdog || this.stopped) return;
    this.watchdog = setInterval(() => this.tick(), WATCH_EVERY_MS);
    this.watchdog.unref();
  }

  private tick(): void {
    if (this.inFlight.size === 0 || this.open) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    const now = Date.now();
    let oldest = now;
    for (const call of this.inFlight) oldest = Math.min(oldest, call.startedAt);
    if (now - oldest < HANG_SUSPECT_MS || this.probing || now - this.lastProbeAt < SUSPECT_PROBE_GAP_MS) return;
    void this.check();
  }

  /** Closed: one probe, and open only if nothing else got an answer meanwhile. */
  private async check(): Promise<void> {
    const startedAt = Date.now();
    if (await this.probeOnce()) return;
    if (this.lastAnswerAt < startedAt && !this.open && !this.stopped) this.trip();
  }

  private async probeOnce(): Promise<boolean> {
    this.probing = true;
    this.lastProbeAt = Date.now();
    let answered: boolean;
    try {
      await this.probe(PROBE_DEADLINE_MS);
      answered = true;
    } catch (err) {
      // Refused with a reason (too many connections, a password) is a server that answers:
      // requests get that answer from it, fast, rather than ours.
      answered = isServerAnswer(err);
    } finally {
      this.probing = false;
    }
    if (answered) this.lastAnswerAt = Date.now();
    this.emit('probe', answered);
    return answered;
  }

  private trip(): void {
    this.open = true;
    const abandoned = [...this.inFlight];
    this.inFlight.clear();
    for (const call of abandoned) call.abandon();
    this.emit('open', abandoned.length);
    void this.probeUntilAnswered();
  }

  private async probeUntilAnswered(): Promise<void> {
    while (!this.stopped) {
      if (await this.probeOnce()) {
        this.open = false;
        this.emit('close');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS).unref());
    }
  }
}

function isServerAnswer(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // SQLSTATEs are five characters with a digit (Node's EPIPE has none); 57014 is our own statement
  // timeout firing, 57P0x a shutdown.
  return (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    /[0-9]/.test(code) &&
    code !== '57014' &&
    !code.startsWith('57P')
  );
}
