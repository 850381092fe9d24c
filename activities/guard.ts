/**
 * The check every journey side effect makes first: do the flow filters (or the goal) hold
 * against stored data, and is the flow still live? Stored events are the ground truth behind
 * the signals: an event accepted before this query is seen here even if its signal was lost.
 */
import type { Contact } from '../db/contacts';
import { getFlow } from '../db/flows';
import type { Queryable } from '../db/pool';
import type { Facts } from '../flows/conditions';
import { firstExit, type ExitRule } from '../flows/exits';
import type { Condition } from '../flows/schema';
import type { JourneyEvent } from '../flows/journey-messages';
import { loadFacts } from './facts';

export interface JourneyRef {
  runId: string;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  /** The trigger event's timestamp: flow filters count events from here on. */
  startedAt: string;
}

/** What the workflow hands every guarded activity. */
export interface GuardRequest {
  journey: JourneyRef;
  trigger: JourneyEvent;
  exits: ExitRule[];
  /** Message ids this journey sent, by step id (engagement conditions). */
  sentMessages: Record<string, string>;
  /** Journey (workflow) time, ms. */
  now: number;
}

export type GuardStop =
  | {
      status: 'exited';
      exit: { reason: ExitRule['reason']; filter: Condition; event?: { id: number; name: string; timestamp: string } };
    }
  | { status: 'exited'; exit: { reason: 'archived' } }
  | { status: 'held' };

export function guardFacts(req: GuardRequest): Omit<Facts, 'profile' | 'events'> {
  return { now: req.now, trigger: req.trigger, sentMessages: req.sentMessages };
}

export async function checkGuard(
  db: Queryable,
  req: GuardRequest,
  opts: { holdWhenPaused: boolean; contact?: Contact | null },
): Promise<GuardStop | undefined> {
  if (req.exits.length > 0) {
    const facts = await loadFacts(
      db,
      req.journey.contactId,
      req.exits.map((r) => r.condition),
      guardFacts(req),
      opts.contact,
    );
    const rule = firstExit(req.exits, facts);
    if (rule) return { status: 'exited', exit: { reason: rule.reason, filter: rule.condition } };
  }
  const flow = await getFlow(db, req.journey.flowId);
  if (flow?.status === 'archived') return { status: 'exited', exit: { reason: 'archived' } };
  if (flow?.status === 'paused' && opts.holdWhenPaused) return { status: 'held' };
  return undefined;
}
