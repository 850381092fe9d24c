/**
 * Opens and clicks from our tracking links while Postgres cannot take them: the pixel and the
 * redirect still answer at once (a click must never land on an error page because our
 * database is hung), and the facts wait here, in memory and bounded, until Postgres answers.
 * Storing is idempotent (message_events dedupes on the source event id), so a fact stored
 * twice by a retry is stored once. Kept in memory only: a process that stops meanwhile loses
 * them, which costs a statistic, never a send or a consent change.
 */
import type { DatabaseBreaker } from '../db/breaker';
import type { MessageEventInput } from '../db/message-events';
import { databaseBreaker, isDatabaseUnavailable } from '../db/pool';
import type { RouterDeps } from '../routing/router';
import { recordEngagements } from './record';

/** About 300 bytes each: a few MB at most, whatever the outage's length. */
export const PENDING_ENGAGEMENT_LIMIT = 10_000;
const RETRY_EVERY_MS = 2_000;

export type TrackingFact = Omit<MessageEventInput, 'messageId' | 'source'> & { message: string };

export class PendingEngagement {
  private readonly facts = new Map<string, TrackingFact>();
  private readonly breaker: DatabaseBreaker | undefined;
  private retry?: NodeJS.Timeout;
  private flushing = false;
  private awaitingClose = false;
  private droppedSinceLog = 0;

  constructor(
    private readonly deps: RouterDeps,
    private readonly limit = PENDING_ENGAGEMENT_LIMIT,
  ) {
    this.breaker = databaseBreaker(deps.db);
  }

  /** How many facts wait for Postgres. */
  get size(): number {
    return this.facts.size;
  }

  /** Stores the fact now when Postgres can take it, else keeps it for later; never throws. */
  async record(fact: TrackingFact): Promise<void> {
    if (this.breaker?.isOpen) return this.keep(fact);
    try {
      await this.store(fact);
    } catch (err) {
      if (isDatabaseUnavailable(err)) this.keep(fact);
      // Anything else (a message erased meanwhile...) is dropped, as it always was: a pixel never fails.
    }
  }

  /** Stored in one transaction and answered at once: routing goes on in the background, whatever Temporal's state. */
  private store(fact: TrackingFact): Promise<unknown> {
    return recordEngagements(this.deps, [{ ...fact, source: 'tracking' }], { routing: 'background' });
  }

  private keep(fact: TrackingFact): void {
    // The same open twice (a mail client reloading images) is one fact.
    const key = `${fact.message}\u0000${fact.sourceEventId}`;
    if (this.facts.has(key)) return;
    if (this.facts.size >= this.limit) {
      if (this.droppedSinceLog++ === 0)
        this.deps.log.warn({ limit: this.limit }, 'Postgres unavailable: tracking facts past the buffer are dropped');
      return;
    }
    this.facts.set(key, fact);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.retry) return;
    if (this.breaker?.isOpen && !this.awaitingClose) {
      // As soon as the breaker's probe gets an answer, not a retry period later.
      this.awaitingClose = true;
      this.breaker.once('close', () => {
        this.awaitingClose = false;
        void this.flush();
      });
    }
    this.retry = setTimeout(() => void this.flush(), RETRY_EVERY_MS);
    this.retry.unref();
  }

  /** Stores what waits, oldest first; stops at the first sign Postgres is still unavailable. */
  async flush(): Promise<void> {
    clearTimeout(this.retry);
    this.retry = undefined;
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const [key, fact] of this.facts) {
        if (this.breaker?.isOpen) break;
        try {
          await this.store(fact);
        } catch (err) {
          if (isDatabaseUnavailable(err)) break;
        }
        this.facts.delete(key);
      }
    } finally {
      this.flushing = false;
    }
    if (this.facts.size > 0) this.scheduleFlush();
    else if (this.droppedSinceLog > 0) {
      this.deps.log.warn({ dropped: this.droppedSinceLog }, 'tracking facts dropped while Postgres was unavailable');
      this.droppedSinceLog = 0;
    }
  }
}
