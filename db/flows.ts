import { isDeepStrictEqual } from 'node:util';
import type { FlowDefinition } from '../flows/schema';
import type { ValidFlowInput } from '../flows/validate';
import type { Queryable } from './pool';

export interface StoredFlow extends FlowDefinition {
  createdAt: string;
  updatedAt: string;
}

interface FlowRow {
  id: string;
  version: number;
  definition: FlowDefinition;
  created_at: Date;
  updated_at: Date;
}

const toFlow = (r: FlowRow): StoredFlow => ({
  ...r.definition,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export class VersionConflictError extends Error {
  constructor(readonly current: number, readonly given: number) {
    super(`flow is at version ${current}, the request was based on version ${given}`);
  }
}

/**
 * Creates or replaces a flow. A change of content makes a new version (kept whole in
 * flow_versions, so running journeys' snapshots stay resolvable); re-sending the same
 * flow changes nothing, which makes PUT idempotent.
 */
export async function saveFlow(tx: Queryable, id: string, input: ValidFlowInput): Promise<{ flow: StoredFlow; changed: boolean }> {
  const current = await tx.query<FlowRow>('SELECT * FROM flows WHERE id = $1 FOR UPDATE', [id]);
  const existing = current.rows[0];
  if (existing && input.version !== undefined && input.version !== existing.version) {
    throw new VersionConflictError(existing.version, input.version);
  }
  const { id: _id, version: _version, ...content } = input;
  const version = existing ? existing.version + 1 : 1;
  const definition: FlowDefinition = { id, version, ...content };
  if (existing && isDeepStrictEqual({ ...existing.definition, version }, definition)) {
    return { flow: toFlow(existing), changed: false };
  }
  const { rows } = await tx.query<FlowRow>(
    `INSERT INTO flows (id, version, status, trigger_event, definition) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
       trigger_event = EXCLUDED.trigger_event, definition = EXCLUDED.definition, updated_at = now()
     RETURNING *`,
    [id, version, definition.status, definition.trigger.event, definition],
  );
  await tx.query('INSERT INTO flow_versions (flow_id, version, definition) VALUES ($1, $2, $3)', [id, version, definition]);
  return { flow: toFlow(rows[0]), changed: true };
}

export async function getFlow(q: Queryable, id: string): Promise<StoredFlow | undefined> {
  const { rows } = await q.query<FlowRow>('SELECT * FROM flows WHERE id = $1', [id]);
  return rows[0] && toFlow(rows[0]);
}

export async function listFlows(q: Queryable): Promise<StoredFlow[]> {
  const { rows } = await q.query<FlowRow>('SELECT * FROM flows ORDER BY id');
  return rows.map(toFlow);
}

export async function liveFlowsTriggeredBy(q: Queryable, eventName: string): Promise<FlowDefinition[]> {
  const { rows } = await q.query<FlowRow>("SELECT * FROM flows WHERE status = 'live' AND trigger_event = $1 ORDER BY id", [eventName]);
  return rows.map((r) => r.definition);
}

export async function getFlowVersion(q: Queryable, id: string, version: number): Promise<FlowDefinition | undefined> {
  const { rows } = await q.query<{ definition: FlowDefinition }>('SELECT definition FROM flow_versions WHERE flow_id = $1 AND version = $2', [id, version]);
  return rows[0]?.definition;
}
