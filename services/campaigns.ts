/**
 * Campaigns beyond reading them: a definition checked (templates, audience) and saved, a run or a schedule started as
 * its Temporal workflow (workflows/campaign.ts), pause, resume and cancel signalled to what runs, and its numbers.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { WorkflowIdReusePolicy, type SignalDefinition } from '@temporalio/common';
import { DateTime } from 'luxon';
import {
  EARLIEST_ZONE,
  frozenWindowOf,
  momentOccurrence,
  sendWindowOf,
  type LocalSend,
  type SendWindow,
} from '../campaigns/occurrences';
import { variantMessage, type CampaignDefinition, type CampaignMessage } from '../campaigns/schema';
import {
  audienceZones,
  campaignHoldoutStats,
  campaignProgress,
  getCampaign,
  runZones,
  saveCampaign,
  setCampaignStatus,
  type Campaign,
} from '../db/campaigns';
import { knownListIds } from '../db/lists';
import type { Db } from '../db/pool';
import { knownSegmentIds } from '../db/segments';
import { flowStats } from '../db/stats';
import { engineFor, templateFields } from '../flows/templates';
import type { Issue } from '../flows/validate';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';
import { campaignScheduleWorkflowId, campaignWorkflowId, type CampaignRunInput } from '../workflows/campaign-messages';
import type { campaignRunWorkflow, campaignScheduleWorkflow } from '../workflows/campaign';
import { HttpError, invalid, notFound } from './errors';

export interface CampaignDeps {
  db: Db;
  workflows: WorkflowClient;
  /** The clock a moment schedule is resolved by (ms): Temporal's, which tests move (default: the machine's). */
  now?: () => number | Promise<number>;
  /** Where contacts without a `timezone` trait are (DEFAULT_TIMEZONE). */
  defaultTimezone?: string;
}

/** Lists and segments the audience names that do not exist, as issues with their path. */
async function audienceIssues(db: Db, c: CampaignDefinition): Promise<Issue[]> {
  const issues: Issue[] = [];
  const check = async (kind: 'list' | 'segment', ids: string[], path: (string | number)[]) => {
    if (ids.length === 0) return;
    const known = kind === 'list' ? await knownListIds(db, ids) : await knownSegmentIds(db, ids);
    ids.forEach((id, i) => known.has(id) || issues.push({ path: [...path, i], message: `no ${kind} "${id}"` }));
  };
  await check('list', c.audience.lists, ['audience', 'lists']);
  await check('segment', c.audience.segments, ['audience', 'segments']);
  await check('list', c.audience.exclude.lists, ['audience', 'exclude', 'lists']);
  await check('segment', c.audience.exclude.segments, ['audience', 'exclude', 'segments']);
  return issues;
}

/** Liquid syntax of the message's fields, checked at save as flows are. */
function templateIssues(c: CampaignDefinition): Issue[] {
  const messages: [(string | number)[], CampaignMessage][] = [
    [['message'], c.message],
    ...(c.abTest?.variants ?? []).map((v, i): [(string | number)[], CampaignMessage] => [
      ['abTest', 'variants', i],
      variantMessage(c, v.id),
    ]),
  ];
  return messages.flatMap(([path, message]) =>
    Object.entries(templateFields(message)).flatMap(([field, source]) => {
      try {
        engineFor(message, field).parse(source);
        return [];
      } catch (err) {
        return [{ path: [...path, ...field.split('.')], message: `template error: ${(err as Error).message}` }];
      }
    }),
  );
}

/**
 * A one-off run's input from the schedule: when it starts, and the local hour if any. A moment
 * schedule is resolved now (`now`, ms) to its next occurrence; 409 when it has none.
 */
export function runInputOf(campaign: CampaignDefinition, sendNow: boolean, now: number = Date.now()): CampaignRunInput {
  const base: CampaignRunInput = { v: 1, campaign, runId: campaign.id };
  const { schedule } = campaign;
  if (!sendNow && schedule.type === 'moment') {
    const next = momentOccurrence(schedule, now);
    if (!next)
      throw new HttpError(409, 'no_occurrence', `calendar moment "${schedule.moment}" has no date in the coming years`);
    return { ...base, startAt: next.startAt, local: next.local };
  }
  if (sendNow || schedule.type !== 'at') return base;
  if (!schedule.localTime) return { ...base, startAt: Date.parse(schedule.at) };
  const date = DateTime.fromISO(schedule.at, { setZone: true }).toISODate() ?? schedule.at.slice(0, 10);
  const startAt = DateTime.fromISO(`${date}T${schedule.localTime}`, { zone: EARLIEST_ZONE }).toMillis();
  return { ...base, startAt, local: { date, time: schedule.localTime } };
}

/** Recurring and yearly moment campaigns are sent by a scheduler workflow, one run per occurrence. */
const scheduled = (c: CampaignDefinition) =>
  c.schedule.type === 'recurring' || (c.schedule.type === 'moment' && c.schedule.yearly === true);
const workflowIdOf = (c: CampaignDefinition) =>
  scheduled(c) ? campaignScheduleWorkflowId(c.id) : campaignWorkflowId(c.id);

/**
 * The local send a campaign's next run makes, resolved at `now` as scheduling would resolve it;
 * a yearly moment: the first occurrence without a run yet. Undefined: no local hour, or no date.
 */
function nextLocalSend(c: CampaignDefinition, runIds: Set<string>, now: number): LocalSend | undefined {
  const { schedule } = c;
  if (schedule.type === 'moment' && schedule.yearly) {
    let since: string | undefined;
    for (let tries = 0; tries < 3; tries += 1) {
      const next = momentOccurrence(schedule, now, { since, thisRun: false });
      if (!next) return undefined;
      if (!runIds.has(`${c.id}@${new Date(next.startAt).toISOString()}`)) return next.local;
      since = next.moment;
    }
    return undefined;
  }
  if (schedule.type === 'moment') return momentOccurrence(schedule, now)?.local;
  if (schedule.type === 'at' && schedule.localTime) return runInputOf(c, false, now).local;
  return undefined;
}

type Runs = Awaited<ReturnType<typeof campaignProgress>>;

/**
 * When a local-time campaign goes out, zone by zone: its run's recipients once frozen, else its
 * audience as it is now at the resolved occurrence (shown before it starts).
 */
async function sendWindow(deps: CampaignDeps, c: CampaignDefinition, runs: Runs): Promise<SendWindow | null> {
  const { schedule } = c;
  const time = schedule.type === 'moment' ? schedule.at : schedule.type === 'at' ? schedule.localTime : undefined;
  if (time === undefined) return null;
  const current = runs.at(-1);
  if (current && !(schedule.type === 'moment' && schedule.yearly)) {
    // A one-off run, frozen once sending started: its recipients' own send instants.
    const rows = await runZones(deps.db, current.runId);
    const first = rows[0] && DateTime.fromMillis(rows[0].at, { zone: rows[0].zone }).toISODate();
    if (first) return frozenWindowOf({ date: first, time }, rows);
  }
  const next = nextLocalSend(c, new Set(runs.map((r) => r.runId)), await (deps.now ?? Date.now)());
  if (!next) return null;
  return sendWindowOf(next, await audienceZones(deps.db, c.audience, deps.defaultTimezone ?? 'UTC'));
}

/** The campaign with its runs' progress and its send window; 404 when there is none. */
export async function campaignWithProgress(deps: CampaignDeps, id: string) {
  const campaign = await loadCampaign(deps.db, id);
  const runs = await campaignProgress(deps.db, campaign.id);
  return { ...campaign, runs, sendWindow: await sendWindow(deps, campaign.definition, runs) };
}

/** The campaign; 404 when there is none. */
export async function loadCampaign(db: Db, id: string): Promise<Campaign> {
  const campaign = await getCampaign(db, id);
  if (!campaign) throw notFound(`campaign "${id}"`);
  return campaign;
}

/**
 * Saves the definition (created or replaced): 400 naming the template or audience entries at fault, 409 while it is
 * scheduled, sending or paused.
 */
export async function saveCampaignDefinition(
  db: Db,
  definition: CampaignDefinition,
): Promise<{ created: boolean; campaign: Campaign }> {
  const issues = [...templateIssues(definition), ...(await audienceIssues(db, definition))];
  if (issues.length > 0) throw invalid(issues, 'campaign is invalid');
  const saved = await saveCampaign(db, definition);
  if (!saved)
    throw new HttpError(
      409,
      'campaign_sending',
      `campaign "${definition.id}" is scheduled, sending or paused: cancel it before changing it`,
    );
  return saved;
}

/**
 * Sends the campaign now (`sendNow`) or as its schedule says: starts its run or its scheduler workflow, then records
 * its status. 409 when it was already sent or scheduled.
 */
export async function startCampaign(
  deps: CampaignDeps,
  id: string,
  sendNow: boolean,
): Promise<{ id: string; status: 'sending' | 'scheduled' }> {
  const { definition } = await loadCampaign(deps.db, id);
  const options = { taskQueue: JOURNEY_TASK_QUEUE, workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE };
  try {
    if (scheduled(definition) && !sendNow) {
      await deps.workflows.start<typeof campaignScheduleWorkflow>('campaignScheduleWorkflow', {
        ...options,
        workflowId: campaignScheduleWorkflowId(definition.id),
        args: [{ v: 1, campaign: definition, occurrences: 0 }],
      });
    } else {
      const input = runInputOf(definition, sendNow, await (deps.now ?? Date.now)());
      await deps.workflows.start<typeof campaignRunWorkflow>('campaignRunWorkflow', {
        ...options,
        workflowId: campaignWorkflowId(input.runId),
        args: [input],
      });
    }
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new HttpError(409, 'already_started', `campaign "${definition.id}" was already sent or scheduled`);
    throw err;
  }
  const status = sendNow || definition.schedule.type === 'now' ? 'sending' : 'scheduled';
  await setCampaignStatus(deps.db, definition.id, status);
  return { id: definition.id, status };
}

/** Signals pause, resume or cancel to what runs of the campaign; 409 when nothing of it runs. */
export async function signalCampaign(deps: CampaignDeps, id: string, signal: SignalDefinition): Promise<void> {
  const { definition, status } = await loadCampaign(deps.db, id);
  // A recurring campaign sent once by hand (send) has a run, not a schedule: signal what runs.
  const ids = [...new Set([workflowIdOf(definition), campaignWorkflowId(definition.id)])];
  let signalled = false;
  for (const workflowId of ids) {
    try {
      const handle = deps.workflows.getHandle(workflowId);
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.signal(signal);
      signalled = true;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  if (!signalled)
    throw new HttpError(
      409,
      'not_running',
      `campaign "${definition.id}" is not sending or scheduled (status ${status})`,
    );
}

/** Per variant, like a flow's steps: sent, skipped by reason, engagement, last-touch conversions. */
export async function campaignStats(db: Db, id: string, query: { conversionWindowDays: number; goalEvent: string }) {
  const campaign = await loadCampaign(db, id);
  const stats = await flowStats(db, campaign.id, {
    campaign: true,
    conversionWindowDays: query.conversionWindowDays,
    goalEvent: query.goalEvent,
  });
  const { pending: _pending, ...totals } = { pending: 0, ...stats.totals };
  const { entered: _entered, exited: _exited, ...messages } = totals;
  const runs = await campaignProgress(db, campaign.id);
  const holdout = await campaignHoldoutStats(db, campaign.id, {
    goalEvent: query.goalEvent,
    windowDays: stats.conversionWindowDays,
  });
  return {
    campaignId: campaign.id,
    goalEvent: query.goalEvent,
    conversionWindowDays: stats.conversionWindowDays,
    recipients: runs.reduce((n, r) => n + r.recipients, 0),
    totals: messages,
    variants: (stats.versions[0]?.steps ?? []).map(({ stepId, ...counts }) => ({ variant: stepId, ...counts })),
    runs,
    /** Treated against control (holdout campaigns), per contact from the send moment; null without a holdout. */
    holdout,
  };
}
