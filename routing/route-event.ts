/**
 * Routing a stored event to Temporal: signal the contact's live journeys that listen to it,
 * then start a journey for every live flow it lets the contact enter. Safe to run again for
 * the same event: entry is decided once per (flow, trigger event) (journey_entries), and the
 * journey ignores an event id it has already seen.
 *
 * Each journey and each flow is a part of its own: a part Temporal refuses for good (a start
 * or signal it will never take) is reported under `failed` with Temporal's message, a part
 * that failed otherwise is finished by the other parts first and then reported together
 * (UnfinishedRouting) for a retry within the event's budget (routing/router.ts); only an
 * outage stops the pass at once.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { loadFacts, profileOf } from '../activities/facts';
import { canonicalContactId, liveJourneyOfMergedId } from '../db/contact-merge';
import type { Contact } from '../db/contacts';
import type { StoredEvent } from '../db/events';
import { getFlowVersion } from '../db/flows';
import {
  claimEntry,
  claimEntryWithStartingRow,
  decideEntry,
  recordEntryStarted,
  takeOverEntry,
} from '../db/journey-entries';
import {
  dropStartingJourney,
  hasRunningJourney,
  lastJourneyStart,
  recordJourneyStart,
  recordJourneyStarting,
  runningJourneysListeningTo,
  type JourneyRecord,
} from '../db/journeys';
import type { Queryable } from '../db/pool';
import { evaluate, readPath } from '../flows/conditions';
import { entryTimeRefusal, tellsJourney, triggerRefusal } from '../flows/entry-time';
import { parseDuration } from '../flows/duration';
import { eventsListenedTo } from '../flows/exits';
import { propertiesListenedTo, slimProperties } from '../flows/listens';
import type { FlowDefinition } from '../flows/schema';
import {
  ContactIdAttribute,
  FlowIdAttribute,
  JOURNEY_TASK_QUEUE,
  journeyWorkflowId,
  READABLE_JOURNEY_KEY_LENGTH,
} from '../runtime/journey-identity';
import type { journeyWorkflow } from '../workflows/journey';
import { contactEventSignal, type JourneyEvent, type JourneyInput } from '../flows/journey-messages';
import { awaitEndingJourney } from './exit-then-enter';
import { liveFlowsNow, type LiveFlows } from './flows-of-pass';
import { classifyTemporalError, RoutingDeferred, temporalMessage } from './temporal-errors';
import { EVENTS } from '../flows/event-names';

export interface RoutingDeps {
  db: Queryable;
  workflows: WorkflowClient;
  /** Where live flows are read (a pass over many events reads them once); Postgres by default. */
  flows?: LiveFlows;
  /**
   * Contacts a pass found without a live journey (and started none for since): their events
   * have no journey to signal, so none is looked up (see routeStoredMany).
   */
  contactsWithoutJourneys?: Set<string>;
  /** Canonical contact ids a pass already resolved (see db/contact-merge.ts). */
  canonicalIds?: ReadonlyMap<string, string>;
  /** Route only this part of the event (a dead letter retried); every part when absent. */
  only?: RoutingPart;
}

/** One flow's share of routing an event: entering the flow, or telling one of its journeys. */
export interface RoutingPart {
  kind: 'start' | 'signal';
  flowId: string;
  workflowId: string;
}

/**
 * Some parts failed for a reason that may pass, after every other part was routed: the event
 * is routed again later (the parts done are not redone: entries are decided, journeys ignore
 * an event id they have seen), and dead-lettered once its budget is spent.
 */
export class UnfinishedRouting extends Error {
  override name = 'UnfinishedRouting';
  constructor(
    readonly parts: (RoutingPart & { error: string })[],
    readonly result: RoutingResult,
  ) {
    super(parts.map((p) => `${p.kind} ${p.workflowId}: ${p.error}`).join('; '));
  }
}

export interface RoutingResult {
  started: { flowId: string; flowVersion: number; workflowId: string; runId: string }[];
  alreadyInFlow: { flowId: string; workflowId: string }[];
  /**
   * Flows the event's name triggers but that it did not start, with the reason: the trigger's
   * `where`, the event's time (history, before the flow went live: flows/entry-time.ts), or the
   * entry rules (contact conditions, re-entry, journey key).
   */
  notEntered: { flowId: string; reason: string }[];
  signalled: { flowId: string; workflowId: string }[];
  /**
   * Parts that failed for good: a journey that has ended (`refused: false`), or a start or a
   * signal Temporal refused (`refused: true`, dead-lettered, with Temporal's message).
   */
  failed: (RoutingPart & { error: string; refused: boolean })[];
}

export const emptyRouting = (): RoutingResult => ({
  started: [],
  alreadyInFlow: [],
  notEntered: [],
  signalled: [],
  failed: [],
});

/**
 * How long an undecided entry claim belongs to the router that made it: past this, that
 * router is presumed dead and another one may take the entry over (after asking Temporal).
 */
export const ENTRY_CLAIM_LEASE_MS = 15_000;

/** Identify calls have no event name: journeys (and templates) see them as "Profile Updated". */
export function toJourneyEvent(event: StoredEvent): JourneyEvent {
  return {
    id: event.id,
    messageId: event.messageId,
    name: event.name ?? EVENTS.profileUpdated,
    properties: event.properties,
    timestamp: event.occurredAt,
  };
}

/** The contact an event is routed as: the one its contact was merged into, if it was. */
async function canonicalIdOf(deps: RoutingDeps, contactId: string): Promise<string> {
  return deps.canonicalIds?.get(contactId) ?? canonicalContactId(deps.db, contactId);
}

/** A journey was started or found for the contact: a pass must look its journeys up from now on. */
function noteJourneys(deps: RoutingDeps, contactId: string, result: RoutingResult): void {
  if (result.started.length + result.alreadyInFlow.length > 0) deps.contactsWithoutJourneys?.delete(contactId);
}

export async function routeEvent(deps: RoutingDeps, stored: StoredEvent): Promise<RoutingResult> {
  const result = emptyRouting();
  if (stored.type !== 'track' || !stored.name) return result;
  // Stored before its contact was merged into another (anonymous → known): routed as the
  // merged contact's, to its journeys (those started anonymously included).
  const event = { ...stored, name: stored.name, contactId: await canonicalIdOf(deps, stored.contactId) };
  const journeyEvent = toJourneyEvent(event);

  const unfinished: UnfinishedRouting['parts'] = [];
  const { only } = deps;

  // Signal first, so a journey started below never receives its own trigger.
  const listening =
    deps.contactsWithoutJourneys?.has(event.contactId) || only?.kind === 'start'
      ? []
      : await runningJourneysListeningTo(deps.db, event.contactId, event.name);
  const signalled = listening.filter(
    (j) => (!only || j.workflowId === only.workflowId) && tellsJourney(event, j.startedAt),
  );
  await signalJourneys(deps, signalled, journeyEvent, result, unfinished);

  const now = Date.parse(event.occurredAt);
  for (const live of await (deps.flows ?? liveFlowsNow(deps.db)).triggeredBy(event.name)) {
    const { flow } = live;
    if (!('event' in flow.trigger) || (only && (only.kind !== 'start' || only.flowId !== flow.id))) continue;
    const refusal = triggerRefusal(event, live, { now, trigger: journeyEvent });
    if (refusal === 'not_for_flow') continue;
    if (refusal) result.notEntered.push({ flowId: flow.id, reason: refusal.reason });
    else await enterAsPart(deps, flow, event, journeyEvent, result, unfinished);
  }
  noteJourneys(deps, event.contactId, result);
  if (unfinished.length) throw new UnfinishedRouting(unfinished, result);
  return result;
}

/** The key a flow's journey is told apart by, if the flow has one and the trigger carries it. */
function journeyKeyOf(flow: FlowDefinition, trigger: JourneyEvent): string | undefined {
  const key = flow.journeyKey ? readPath(trigger.properties, flow.journeyKey) : undefined;
  return key === undefined ? undefined : String(key);
}

/** Entering one flow as a part of the event (see UnfinishedRouting): only an outage stops the others. */
async function enterAsPart(
  deps: RoutingDeps,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
  result: RoutingResult,
  unfinished: UnfinishedRouting['parts'],
): Promise<void> {
  try {
    await enter(deps, flow, event, trigger, result);
  } catch (err) {
    if (!(err instanceof RoutingDeferred) && classifyTemporalError(err) === 'outage') throw err;
    const workflowId = journeyWorkflowId(flow.id, event.contactId, journeyKeyOf(flow, trigger));
    unfinished.push({ kind: 'start', flowId: flow.id, workflowId, error: temporalMessage(err) });
  }
}

/**
 * Each journey by workflow id, without run id (a journey that continued as new gets it too),
 * once per workflow id, with only the properties it reads.
 */
async function signalJourneys(
  deps: RoutingDeps,
  journeys: JourneyRecord[],
  event: JourneyEvent,
  result: RoutingResult,
  unfinished: UnfinishedRouting['parts'],
): Promise<void> {
  const byWorkflow = new Map<string, JourneyRecord>();
  // A running row wins over a starting one: that is the journey Temporal runs under this id.
  for (const j of journeys)
    if (!byWorkflow.has(j.workflowId) || j.status === 'running') byWorkflow.set(j.workflowId, j);
  for (const journey of byWorkflow.values()) {
    const slim = { ...event, properties: slimProperties(event.properties, journey.listens?.[event.name]) };
    try {
      await deps.workflows.getHandle(journey.workflowId).signal(contactEventSignal, slim);
      result.signalled.push({ flowId: journey.flowId, workflowId: journey.workflowId });
    } catch (err) {
      const part = { kind: 'signal' as const, flowId: journey.flowId, workflowId: journey.workflowId };
      const failure = classifyTemporalError(err);
      if (failure === 'outage') throw err;
      // A journey being started right now is not there yet: route the event again shortly.
      if (err instanceof WorkflowNotFoundError && journey.status === 'starting')
        unfinished.push({ ...part, error: `journey ${journey.workflowId} is starting` });
      else if (failure === 'other') unfinished.push({ ...part, error: temporalMessage(err) });
      else
        result.failed.push({
          ...part,
          refused: failure === 'refused',
          error: failure === 'gone' ? 'the journey has ended' : temporalMessage(err),
        });
    }
  }
}

/**
 * Profile-change triggers: a flow is entered when its condition goes from not true (before)
 * to true (after), so a lead score reaching 50 enters once per crossing.
 */
export async function routeProfileChange(
  deps: RoutingDeps,
  before: Contact | undefined,
  after: Contact,
  stored: StoredEvent,
): Promise<RoutingResult> {
  const result = emptyRouting();
  const unfinished: UnfinishedRouting['parts'] = [];
  const event = { ...stored, contactId: await canonicalIdOf(deps, stored.contactId) };
  const now = Date.parse(event.occurredAt);
  for (const live of await (deps.flows ?? liveFlowsNow(deps.db)).profileTriggered()) {
    const { flow } = live;
    if (!('profileChange' in flow.trigger) || (deps.only && deps.only.flowId !== flow.id)) continue;
    const condition = flow.trigger.profileChange;
    const was = evaluate(condition, { now, profile: profileOf(before), events: [] });
    const is = evaluate(condition, { now, profile: profileOf(after), events: [] });
    if (was === true || is !== true) continue;
    // A crossing in an identify of the past (an import of history) starts nothing, as a track would.
    const refusal = entryTimeRefusal(event, live);
    if (refusal) result.notEntered.push({ flowId: flow.id, reason: refusal.reason });
    else await enterAsPart(deps, flow, event, toJourneyEvent(event), result, unfinished);
  }
  noteJourneys(deps, event.contactId, result);
  if (unfinished.length) throw new UnfinishedRouting(unfinished, result);
  return result;
}

/**
 * Entry rules (contact conditions, re-entry, journey key), then the start, decided once per
 * (flow, trigger event): the claim is taken before the start and completed after it.
 */
async function enter(
  deps: RoutingDeps,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
  result: RoutingResult,
): Promise<void> {
  const journeyKey = journeyKeyOf(flow, trigger);
  const workflowId = journeyWorkflowId(flow.id, event.contactId, journeyKey);
  // Most flows' entry rules need nothing from the database: then the claim and the journey's
  // `starting` row are one round trip (a start is what a busy router does most).
  // A contact a pass found without live journeys has none under a merged id either.
  const refusedWithoutDb = flow.journeyKey !== undefined && journeyKey === undefined;
  const fastPath =
    !refusedWithoutDb &&
    !entryRulesReadDb(flow) &&
    (deps.contactsWithoutJourneys?.has(event.contactId) ||
      !(await liveJourneyOfMergedId(deps.db, flow.id, event.contactId, workflowId, journeyKey)));
  if (fastPath && (await claimEntryWithStartingRow(deps.db, startingRow(flow, event, trigger, journeyKey)))) {
    return void (await pushStart(deps, flow, event, trigger, journeyKey, result, { rowWritten: true }));
  }
  const claim = await claimEntry(deps.db, {
    flowId: flow.id,
    triggerEventId: event.id,
    contactId: event.contactId,
    workflowId,
  });
  if (!claim.fresh) {
    const { entry } = claim;
    if (entry.outcome === 'started')
      return void result.started.push({
        flowId: flow.id,
        flowVersion: flow.version,
        workflowId,
        runId: entry.runId ?? '',
      });
    if (entry.outcome === 'already_in_flow') return void result.alreadyInFlow.push({ flowId: flow.id, workflowId });
    if (entry.outcome === 'refused')
      return void result.notEntered.push({ flowId: flow.id, reason: entry.reason ?? 'refused' });
    if (entry.outcome === 'failed')
      return void result.failed.push({
        kind: 'start',
        flowId: flow.id,
        workflowId,
        refused: true,
        error: entry.reason ?? 'Temporal refused the start',
      });
    // Undecided: a router died (or is still working) between claim and decision.
    const runId = await startedFor(deps, workflowId, event.id);
    if (runId) return void result.started.push(await adoptStarted(deps, flow, event, trigger, journeyKey, runId));
    if (!(await takeOverEntry(deps.db, flow.id, event.id, ENTRY_CLAIM_LEASE_MS)))
      throw new RoutingDeferred(`entry into ${flow.id} is being decided by another router`);
  }

  // One journey per flow and contact also across a merge: the one started anonymously counts.
  const mergedJourney = await liveJourneyOfMergedId(deps.db, flow.id, event.contactId, workflowId, journeyKey);
  if (mergedJourney) {
    await decideEntry(deps.db, flow.id, event.id, 'already_in_flow');
    return void result.alreadyInFlow.push({ flowId: flow.id, workflowId: mergedJourney });
  }
  const refusal = await entryRefusal(deps.db, flow, event, trigger);
  if (refusal) {
    await decideEntry(deps.db, flow.id, event.id, 'refused', { reason: refusal });
    return void result.notEntered.push({ flowId: flow.id, reason: refusal });
  }
  await pushStart(deps, flow, event, trigger, journeyKey, result, { rowWritten: false });
}

async function pushStart(
  deps: RoutingDeps,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
  journeyKey: string | undefined,
  result: RoutingResult,
  opts: { rowWritten: boolean },
): Promise<void> {
  const workflowId = journeyWorkflowId(flow.id, event.contactId, journeyKey);
  // Signalled just before: the journey may be ending on this very event (see exit-then-enter.ts).
  const endingNow = result.signalled.some((s) => s.workflowId === workflowId);
  let started: Awaited<ReturnType<typeof startJourney>>;
  try {
    started = await startJourney(deps, flow, event, trigger, journeyKey, { ...opts, endingNow });
  } catch (err) {
    if (classifyTemporalError(err) !== 'refused') throw err;
    // Temporal will never take this start: decided as failed, with its words, so routing the
    // event again does not try it again and the contact's later events are not held behind it.
    const error = temporalMessage(err);
    await dropStartingJourney(deps.db, flow.id, event.id);
    await decideEntry(deps.db, flow.id, event.id, 'failed', { reason: error });
    return void result.failed.push({ kind: 'start', flowId: flow.id, workflowId, refused: true, error });
  }
  if (started) result.started.push(started);
  else result.alreadyInFlow.push({ flowId: flow.id, workflowId });
}

/** Whether deciding entry reads the database (see entryRefusal): trigger conditions on the contact, re-entry rules. */
function entryRulesReadDb(flow: FlowDefinition): boolean {
  if ('event' in flow.trigger && flow.trigger.contact) return true;
  return (flow.reentry?.mode ?? 'when_not_in_flow') !== 'when_not_in_flow';
}

/** The run this trigger event started under this workflow id, if Temporal has one (memo). */
async function startedFor(deps: RoutingDeps, workflowId: string, triggerEventId: number): Promise<string | undefined> {
  try {
    const description = await deps.workflows.getHandle(workflowId).describe();
    const memo = (await description.memo) as Partial<JourneyMemo> | undefined;
    return memo?.triggerEventId === triggerEventId ? description.runId : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

async function entryRefusal(
  db: Queryable,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
): Promise<string | undefined> {
  if (flow.journeyKey && readPath(trigger.properties, flow.journeyKey) === undefined) {
    return `the trigger has no "${flow.journeyKey}" (the journey key)`;
  }
  if ('event' in flow.trigger && flow.trigger.contact) {
    // Counted over the contact's whole history (no journey yet): "has never ordered".
    const facts = await loadFacts(db, event.contactId, [flow.trigger.contact], { now: Date.parse(event.occurredAt) });
    if (evaluate(flow.trigger.contact, facts) !== true) return 'the contact does not meet the trigger conditions';
  }
  const reentry = flow.reentry ?? { mode: 'when_not_in_flow' };
  if (reentry.mode !== 'when_not_in_flow') {
    const key = flow.journeyKey ? String(readPath(trigger.properties, flow.journeyKey)) : undefined;
    const last = await lastJourneyStart(db, flow.id, event.contactId, key);
    if (last !== undefined && reentry.mode === 'once') return 'the contact was in this flow before (re-entry: once)';
    if (
      last !== undefined &&
      reentry.mode === 'once_per' &&
      Date.parse(event.occurredAt) - last < (parseDuration(reentry.period) ?? 0)
    ) {
      return `the contact entered this flow less than ${reentry.period} ago`;
    }
  }
  return undefined;
}

/** Everything Temporal is told when a journey starts: id policy, search attributes, UI texts. */
export function journeyStartOptions(
  flow: FlowDefinition,
  contactId: string,
  trigger: JourneyEvent,
  journeyKey?: string,
) {
  const input: JourneyInput = { v: 1, flow, contactId, trigger, ...(journeyKey === undefined ? {} : { journeyKey }) };
  return {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: journeyWorkflowId(flow.id, contactId, journeyKey),
    args: [input] as [JourneyInput],
    // One journey per flow and contact (and key) at a time; a finished one may be entered again.
    workflowIdConflictPolicy: 'FAIL' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: ContactIdAttribute, value: contactId },
      { key: FlowIdAttribute, value: flow.id },
    ],
    memo: {
      flowName: flow.name,
      flowVersion: flow.version,
      triggerEventId: trigger.id,
      triggerTimestamp: trigger.timestamp,
      ...(journeyKey === undefined ? {} : { journeyKey }),
    } satisfies JourneyMemo,
    staticSummary: `${flow.name} (v${flow.version}) for contact ${contactId}${journeyKey === undefined ? '' : ` [${shortKey(journeyKey)}]`}`,
    staticDetails: [
      `Flow **${flow.name}** \`${flow.id}\` version ${flow.version}`,
      `Triggered by **${trigger.name}** (event ${trigger.id}, messageId \`${trigger.messageId}\`) at ${trigger.timestamp}`,
      flow.exitWhen.length
        ? `Exits when: ${flow.exitWhen.map((f) => JSON.stringify(f)).join('; ')}`
        : 'No flow filters',
    ].join('\n\n'),
  };
}

/** A journey key as shown in a one-line summary (the memo keeps it whole). */
function shortKey(key: string): string {
  return key.length > READABLE_JOURNEY_KEY_LENGTH ? `${key.slice(0, READABLE_JOURNEY_KEY_LENGTH)}…` : key;
}

/** The start of this entry went through in an earlier attempt: the row and the decision follow. */
async function adoptStarted(
  deps: RoutingDeps,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
  journeyKey: string | undefined,
  runId: string,
) {
  await recordJourneyStarting(deps.db, startingRow(flow, event, trigger, journeyKey));
  await recordEntryStarted(deps.db, flow.id, event.id, runId);
  return {
    flowId: flow.id,
    flowVersion: flow.version,
    workflowId: journeyWorkflowId(flow.id, event.contactId, journeyKey),
    runId,
  };
}

function startingRow(flow: FlowDefinition, event: StoredEvent, trigger: JourneyEvent, journeyKey: string | undefined) {
  return {
    workflowId: journeyWorkflowId(flow.id, event.contactId, journeyKey),
    flowId: flow.id,
    flowVersion: flow.version,
    contactId: event.contactId,
    triggerEventId: event.id,
    listensTo: eventsListenedTo(flow),
    listens: propertiesListenedTo(flow),
    startedAt: trigger.timestamp,
    journeyKey: journeyKey ?? null,
  };
}

async function startJourney(
  deps: RoutingDeps,
  flow: FlowDefinition,
  event: StoredEvent,
  trigger: JourneyEvent,
  journeyKey: string | undefined,
  opts: { rowWritten: boolean; endingNow?: boolean },
): Promise<RoutingResult['started'][number] | undefined> {
  const options = journeyStartOptions(flow, event.contactId, trigger, journeyKey);
  const { workflowId } = options;
  // The row first, so an event routed while the start is under way finds the journey.
  if (!opts.rowWritten) await recordJourneyStarting(deps.db, startingRow(flow, event, trigger, journeyKey));
  try {
    const handle = await deps.workflows.start<typeof journeyWorkflow>('journeyWorkflow', options);
    const runId = handle.firstExecutionRunId;
    await recordEntryStarted(deps.db, flow.id, event.id, runId);
    return { flowId: flow.id, flowVersion: flow.version, workflowId, runId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // The journey running under this id may be this very trigger's (an earlier attempt's
    // start went through after its deadline): then it was started, not refused.
    const runId = await startedFor(deps, workflowId, event.id);
    if (runId) return adoptStarted(deps, flow, event, trigger, journeyKey, runId);
    if (opts.endingNow && (await awaitEndingJourney(deps, flow, workflowId, trigger)))
      return startJourney(deps, flow, event, trigger, journeyKey, { rowWritten: true });
    await dropStartingJourney(deps.db, flow.id, event.id);
    await decideEntry(deps.db, flow.id, event.id, 'already_in_flow');
    await recordJourneyIfMissing(deps, flow.id, workflowId, event.contactId);
    return undefined;
  }
}

interface JourneyMemo {
  flowName: string;
  flowVersion: number;
  triggerEventId: number;
  triggerTimestamp: string;
  journeyKey?: string;
}

/**
 * A journey that runs without its row (the start went through but its answer was lost to a
 * deadline or a crash) would never be signalled: recover the row from Temporal.
 */
async function recordJourneyIfMissing(
  deps: RoutingDeps,
  flowId: string,
  workflowId: string,
  contactId: string,
): Promise<void> {
  if (await hasRunningJourney(deps.db, workflowId)) return;
  const description = await deps.workflows.getHandle(workflowId).describe();
  if (description.status.name !== 'RUNNING') return;
  const memo = (await description.memo) as Partial<JourneyMemo> | undefined;
  if (memo?.flowVersion === undefined || memo.triggerEventId === undefined) return;
  const flow = await getFlowVersion(deps.db, flowId, memo.flowVersion);
  await recordJourneyStart(deps.db, {
    runId: description.runId,
    workflowId,
    flowId,
    flowVersion: memo.flowVersion,
    contactId,
    triggerEventId: memo.triggerEventId,
    listensTo: flow ? eventsListenedTo(flow) : [],
    listens: flow ? propertiesListenedTo(flow) : {},
    startedAt: memo.triggerTimestamp ?? description.startTime.toISOString(),
    journeyKey: memo.journeyKey ?? null,
  });
}

/**
 * Track events (page and screen calls are stored as "Page Viewed" / "Screen Viewed" track
 * events, so they trigger and are filtered like any event) and identifies (profile changes)
 * route; group and alias calls are kept for the timeline and route nowhere.
 */
export function routeByType(deps: RoutingDeps, event: StoredEvent): Promise<RoutingResult> {
  if (event.type === 'track') return routeEvent(deps, event);
  if (event.type !== 'identify') return Promise.resolve(emptyRouting());
  const change = event.context.profileChange as { before: Contact | null; after: Contact } | undefined;
  return change
    ? routeProfileChange(deps, change.before ?? undefined, change.after, event)
    : Promise.resolve(emptyRouting());
}
