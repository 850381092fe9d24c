import { isDeepStrictEqual } from 'node:util';
import { withDefaults } from '../flows/defaults';
import type { LiveFlow } from '../flows/entry-time';
import type { FlowDefinition, FlowStatus } from '../flows/schema';
import type { ValidFlowInput } from '../flows/validate';
import type { Queryable } from './pool';

export interface StoredFlow extends FlowDefinition {
  createdAt: string;
  updatedAt: string;
  /** When the flow last became live (absent if it never was): events from before it start no journey. */
  liveSince?: string;
}

interface FlowRow {
  id: string;
  version: number;
  status: FlowStatus;
  definition: FlowDefinition;
  created_at: Date;
  updated_at: Date;
  live_since: Date | null;
}

/** The status lives on the flow, not its versions: pausing is not an edit. */
const definitionOf = (r: FlowRow): FlowDefinition => ({ ...withDefaults(r.definition), status: r.status });

const toFlow = (r: FlowRow): StoredFlow => ({
  ...definitionOf(r),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  ...(r.live_since ? { liveSince: r.live_since.toISOString() } : {}),
});

/** A live flow as routing reads it: its definition and when it became live. */
const toLiveFlow = (r: FlowRow): LiveFlow => ({
  flow: definitionOf(r),
  liveSince: r.live_since?.toISOString() ?? r.updated_at.toISOString(),
});

/**
 * `live_since` after a write giving the flow `status` (SQL): set when the flow becomes live (from
 * draft, paused or nothing), kept by an edit of a live flow, cleared when it stops being live (a
 * resumed flow counts from its resumption: the events of its pause were routed without it).
 */
const liveSinceAfter = (status: string) =>
  `CASE WHEN ${status} <> 'live' THEN NULL WHEN flows.status = 'live' THEN flows.live_since ELSE now() END`;

export class VersionConflictError extends Error {
  constructor(
    readonly current: number,
    readonly given: number,
  ) {
    super(`flow is at version ${current}, the request was based on version ${given}`);
  }
}

export class FlowArchivedError extends Error {
  constructor(readonly id: string) {
    super(`flow "${id}" is archived and cannot be made live, paused or draft again; copy it under a new id`);
  }
}

const sameContent = (a: FlowDefinition, b: FlowDefinition) =>
  isDeepStrictEqual({ ...a, status: null, version: null }, { ...b, status: null, version: null });

/**
 * Creates or replaces a flow. A change of content makes a new version (kept whole in
 * flow_versions, so running journeys' snapshots stay resolvable); a change of status alone
 * does not; re-sending the same flow changes nothing, which makes PUT idempotent.
 */
export async function saveFlow(
  tx: Queryable,
  id: string,
  input: ValidFlowInput,
): Promise<{ flow: StoredFlow; changed: boolean; previousStatus?: FlowStatus }> {
  const current = await tx.query<FlowRow>('SELECT * FROM flows WHERE id = $1 FOR UPDATE', [id]);
  const existing = current.rows[0];
  // Archiving ended its journeys; reviving the flow would not bring them back, and would
  // start new ones under a flow the shop has retired.
  if (existing?.status === 'archived' && input.status !== 'archived') throw new FlowArchivedError(id);
  if (existing && input.version !== undefined && input.version !== existing.version) {
    throw new VersionConflictError(existing.version, input.version);
  }
  const { id: _id, version: _version, ...content } = input;
  const candidate: FlowDefinition = { id, version: existing ? existing.version + 1 : 1, ...content };
  if (existing && sameContent(definitionOf(existing), candidate)) {
    if (existing.status === candidate.status) return { flow: toFlow(existing), changed: false };
    const flow = await setFlowStatus(tx, id, candidate.status);
    return { flow: flow!, changed: false, previousStatus: existing.status };
  }
  const trigger = 'event' in candidate.trigger ? candidate.trigger.event : null;
  const { rows } = await tx.query<FlowRow>(
    `INSERT INTO flows (id, version, status, trigger_event, profile_trigger, definition, live_since)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3 = 'live' THEN now() END)
     ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, trigger_event = EXCLUDED.trigger_event,
       profile_trigger = EXCLUDED.profile_trigger, definition = EXCLUDED.definition, updated_at = now(),
       live_since = ${liveSinceAfter('EXCLUDED.status')}
     RETURNING *`,
    [id, candidate.version, candidate.status, trigger, trigger === null, candidate],
  );
  await tx.query('INSERT INTO flow_versions (flow_id, version, definition) VALUES ($1, $2, $3)', [
    id,
    candidate.version,
    candidate,
  ]);
  return {
    flow: toFlow(rows[0]),
    changed: true,
    ...(existing && existing.status !== candidate.status ? { previousStatus: existing.status } : {}),
  };
}

/**
 * A status change under the flow's row lock: two concurrent changes (pause and archive, archive
 * and activate) are applied one after the other, each seeing the other's result.
 */
export async function changeFlowStatus(
  tx: Queryable,
  id: string,
  status: FlowStatus,
): Promise<{ flow: StoredFlow; previousStatus: FlowStatus } | undefined> {
  const { rows } = await tx.query<FlowRow>('SELECT * FROM flows WHERE id = $1 FOR UPDATE', [id]);
  if (!rows[0]) return undefined;
  if (rows[0].status === 'archived' && status !== 'archived') throw new FlowArchivedError(id);
  const flow = rows[0].status === status ? toFlow(rows[0]) : (await setFlowStatus(tx, id, status))!;
  return { flow, previousStatus: rows[0].status };
}

export async function setFlowStatus(q: Queryable, id: string, status: FlowStatus): Promise<StoredFlow | undefined> {
  const { rows } = await q.query<FlowRow>(
    `UPDATE flows SET status = $2, updated_at = now(), live_since = ${liveSinceAfter('$2')} WHERE id = $1 RETURNING *`,
    [id, status],
  );
  return rows[0] && toFlow(rows[0]);
}

export async function getFlow(q: Queryable, id: string): Promise<StoredFlow | undefined> {
  const { rows } = await q.query<FlowRow>('SELECT * FROM flows WHERE id = $1', [id]);
  return rows[0] && toFlow(rows[0]);
}

export async function listFlows(q: Queryable): Promise<StoredFlow[]> {
  const { rows } = await q.query<FlowRow>('SELECT * FROM flows ORDER BY id');
  return rows.map(toFlow);
}

export async function liveFlowsTriggeredBy(q: Queryable, eventName: string): Promise<LiveFlow[]> {
  const { rows } = await q.query<FlowRow>(
    "SELECT * FROM flows WHERE status = 'live' AND trigger_event = $1 ORDER BY id",
    [eventName],
  );
  return rows.map(toLiveFlow);
}

export async function liveProfileTriggeredFlows(q: Queryable): Promise<LiveFlow[]> {
  const { rows } = await q.query<FlowRow>("SELECT * FROM flows WHERE status = 'live' AND profile_trigger ORDER BY id");
  return rows.map(toLiveFlow);
}

export async function getFlowVersion(q: Queryable, id: string, version: number): Promise<FlowDefinition | undefined> {
  const { rows } = await q.query<{ definition: FlowDefinition }>(
    'SELECT definition FROM flow_versions WHERE flow_id = $1 AND version = $2',
    [id, version],
  );
  return rows[0] && withDefaults(rows[0].definition);
}

export async function listFlowVersions(
  q: Queryable,
  id: string,
): Promise<{ version: number; createdAt: string; definition: FlowDefinition }[]> {
  const { rows } = await q.query<{ version: number; created_at: Date; definition: FlowDefinition }>(
    'SELECT version, created_at, definition FROM flow_versions WHERE flow_id = $1 ORDER BY version',
    [id],
  );
  return rows.map((r) => ({
    version: r.version,
    createdAt: r.created_at.toISOString(),
    definition: withDefaults(r.definition),
  }));
}
