import type { Queryable } from './pool';

export type JourneyStatus = 'running' | 'completed' | 'exited' | 'failed';

export interface JourneyRecord {
  runId: string;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  triggerEventId: number | null;
  status: JourneyStatus;
  exitReason: string | null;
  exitDetail: unknown;
  currentStep: string | null;
  journeyKey: string | null;
  steps: unknown;
  startedAt: string;
  endedAt: string | null;
}

interface JourneyRow {
  run_id: string;
  workflow_id: string;
  flow_id: string;
  flow_version: number;
  contact_id: string;
  trigger_event_id: number | null;
  status: JourneyStatus;
  exit_reason: string | null;
  exit_detail: unknown;
  current_step: string | null;
  journey_key: string | null;
  steps: unknown;
  started_at: Date;
  ended_at: Date | null;
}

const toJourney = (r: JourneyRow): JourneyRecord => ({
  runId: r.run_id,
  workflowId: r.workflow_id,
  flowId: r.flow_id,
  flowVersion: r.flow_version,
  contactId: r.contact_id,
  triggerEventId: r.trigger_event_id,
  status: r.status,
  exitReason: r.exit_reason,
  exitDetail: r.exit_detail,
  currentStep: r.current_step,
  journeyKey: r.journey_key,
  steps: r.steps,
  startedAt: r.started_at.toISOString(),
  endedAt: r.ended_at?.toISOString() ?? null,
});

export interface JourneyStart {
  runId: string;
  workflowId: string;
  flowId: string;
  flowVersion: number;
  contactId: string;
  triggerEventId: number;
  listensTo: string[];
  startedAt: string;
  journeyKey: string | null;
}

export async function recordJourneyStart(q: Queryable, j: JourneyStart): Promise<void> {
  await q.query(
    `INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, trigger_event_id, listens_to, started_at, journey_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (run_id) DO NOTHING`,
    [j.runId, j.workflowId, j.flowId, j.flowVersion, j.contactId, j.triggerEventId, j.listensTo, j.startedAt, j.journeyKey],
  );
}

export interface JourneyEnd extends Omit<JourneyStart, 'listensTo' | 'triggerEventId' | 'journeyKey'> {
  status: Exclude<JourneyStatus, 'running'>;
  exitReason: string | null;
  exitDetail: unknown;
  currentStep: string | null;
  /** The path the journey took (random-split branches included). */
  steps: unknown;
}

/** Upsert: the row exists unless the API died between starting the workflow and writing it. */
export async function recordJourneyEnd(q: Queryable, j: JourneyEnd): Promise<void> {
  await q.query(
    `INSERT INTO journeys (run_id, workflow_id, flow_id, flow_version, contact_id, started_at, status, exit_reason, exit_detail, current_step, steps, ended_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
     ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, exit_reason = EXCLUDED.exit_reason,
       exit_detail = EXCLUDED.exit_detail, current_step = EXCLUDED.current_step, steps = EXCLUDED.steps,
       ended_at = COALESCE(journeys.ended_at, now())`,
    [j.runId, j.workflowId, j.flowId, j.flowVersion, j.contactId, j.startedAt, j.status, j.exitReason, JSON.stringify(j.exitDetail ?? null), j.currentStep, JSON.stringify(j.steps ?? null)],
  );
}

/** Running journeys of this contact that asked to hear about this event (see `listens_to`). */
export async function runningJourneysListeningTo(q: Queryable, contactId: string, eventName: string): Promise<JourneyRecord[]> {
  const { rows } = await q.query<JourneyRow>(
    "SELECT * FROM journeys WHERE contact_id = $1 AND status = 'running' AND $2 = ANY(listens_to) ORDER BY started_at",
    [contactId, eventName],
  );
  return rows.map(toJourney);
}

export async function listContactJourneys(q: Queryable, contactId: string): Promise<JourneyRecord[]> {
  const { rows } = await q.query<JourneyRow>('SELECT * FROM journeys WHERE contact_id = $1 ORDER BY started_at DESC LIMIT 500', [contactId]);
  return rows.map(toJourney);
}

export async function hasRunningJourney(q: Queryable, workflowId: string): Promise<boolean> {
  const { rows } = await q.query("SELECT 1 FROM journeys WHERE workflow_id = $1 AND status = 'running'", [workflowId]);
  return rows.length > 0;
}

/** When the contact last entered this flow (ms), for re-entry rules; keyed flows count per key (per cart). */
export async function lastJourneyStart(q: Queryable, flowId: string, contactId: string, journeyKey?: string): Promise<number | undefined> {
  const { rows } = await q.query<{ at: Date | null }>(
    `SELECT max(started_at) AS at FROM journeys WHERE flow_id = $1 AND contact_id = $2${journeyKey === undefined ? '' : ' AND journey_key = $3'}`,
    journeyKey === undefined ? [flowId, contactId] : [flowId, contactId, journeyKey],
  );
  return rows[0]?.at?.getTime();
}

export async function runningJourneysOfFlow(q: Queryable, flowId: string): Promise<JourneyRecord[]> {
  const { rows } = await q.query<JourneyRow>("SELECT * FROM journeys WHERE flow_id = $1 AND status = 'running'", [flowId]);
  return rows.map(toJourney);
}
