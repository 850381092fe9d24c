/**
 * A breaker per Temporal client: after a routing attempt failed for a reason that will pass
 * (Temporal unreachable, a deadline), requests skip inline routing for a moment and answer
 * "deferred" at once (the event is stored; the router loop routes it) instead of each waiting
 * out its deadline. The loop probes and closes the breaker as soon as Temporal answers.
 */
import type { WorkflowClient } from '@temporalio/client';

/** How long one failure keeps inline routing off when no probe says otherwise. */
export const BREAKER_OPEN_MS = 2_000;
const PROBE_DEADLINE_MS = 1_000;

export class TemporalHealth {
  private openUntil = 0;
  private downSince: number | undefined;
  private unreachable = false;

  constructor(private readonly workflows: WorkflowClient) {}

  isDown(now = Date.now()): boolean {
    return now < this.openUntil;
  }

  /** Whether Temporal was reported down since the last successful probe. */
  get wasDown(): boolean {
    return this.downSince !== undefined;
  }

  /**
   * Whether the outage since the last successful probe included Temporal not answering at all
   * (not only refusing our credentials or namespace, which a probe cannot tell apart from health).
   */
  get wasUnreachable(): boolean {
    return this.unreachable;
  }

  /** `access`: Temporal answered, but refuses our key or does not know our namespace. */
  markDown(now = Date.now(), cause: 'unreachable' | 'access' = 'unreachable'): void {
    this.downSince ??= now;
    this.openUntil = now + BREAKER_OPEN_MS;
    if (cause === 'unreachable') this.unreachable = true;
  }

  markUp(): void {
    this.openUntil = 0;
    this.downSince = undefined;
    this.unreachable = false;
  }

  /** One cheap call with a short deadline; closes the breaker when it answers. */
  async probe(): Promise<boolean> {
    try {
      await this.workflows.withDeadline(Date.now() + PROBE_DEADLINE_MS, () =>
        this.workflows.workflowService.getSystemInfo({}),
      );
      this.markUp();
      return true;
    } catch {
      this.markDown();
      return false;
    }
  }
}

const byClient = new WeakMap<WorkflowClient, TemporalHealth>();

/** The breaker of this client: shared by the requests and the router loop of one process. */
export function temporalHealth(workflows: WorkflowClient): TemporalHealth {
  let health = byClient.get(workflows);
  if (!health) byClient.set(workflows, (health = new TemporalHealth(workflows)));
  return health;
}
