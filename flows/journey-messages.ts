/**
 * The journey workflow's contract: input, result, signals and queries, defined once and
 * imported by the client side (router, activities, tests) and the workflow alike. It lives in
 * flows/, below workflows/ and activities/, so activities signal journeys without importing workflows/.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { EventFacts } from './conditions';
import type { Condition, FlowDefinition, FlowStatus } from './schema';

/** An event of the contact's, as a journey sees it (trigger or signal). */
export interface JourneyEvent extends EventFacts {
  /** Our stored event id (events.id). */
  id: number;
  messageId: string;
}

/**
 * What continue-as-new carries of the journey's event memory (workflows/event-memory.ts): the next run
 * rebuilds the same memory from it.
 */
export interface MemorySnapshot {
  seenIds: number[];
  events: JourneyEvent[];
}

export interface JourneyInput {
  /**
   * Input format version: bump it when the shape changes, and keep reading the old one.
   * 1: a journey's start; 2: a run continued as new, with `carried`.
   */
  v: 1 | 2;
  /** The flow version this journey runs to the end, whatever edits come later. */
  flow: FlowDefinition;
  contactId: string;
  trigger: JourneyEvent;
  /** Keyed journeys (one per cart): the trigger's key value. */
  journeyKey?: string;
  /** v2: what the previous run hands over when it continues as new. */
  carried?: CarriedState;
}

/** Where a waiting step stands, so the next run picks it up where this one left it. */
export interface ResumePoint {
  stepId: string;
  /** delay, delay_until, wait_for_event: when the wait ends unless something happens first. */
  deadline?: string;
  /** wait_for_event: workflow time the wait began (the stored-events check looks from there). */
  waitBegan?: string;
  /** wait_for_event: the awaited event already arrived (the run rotated in the same moment). */
  waitMatched?: boolean;
}

export interface CarriedState {
  /**
   * The first run's id: the journey's identity in Postgres (journeys row, messages) and in
   * every activity's JourneyRef, whatever run is current.
   */
  firstRunId: string;
  /** How many runs came before this one. */
  runs: number;
  resume: ResumePoint;
  flowStatus: FlowStatus;
  steps: StepRecord[];
  /** Events signalled over the journey's life (all runs), duplicates not counted. */
  signals: number;
  memory: MemorySnapshot;
}

export type JourneyExit =
  | {
      reason: 'flow_filter' | 'goal' | 'unsubscribed';
      /** The condition that matched. */
      filter: Condition;
      /** The event that made it true, when one did. */
      event?: Pick<JourneyEvent, 'id' | 'name' | 'timestamp'>;
      detectedBy: 'signal' | 'send_guard';
    }
  | { reason: 'exit_step'; stepId: string; detail?: string }
  | { reason: 'archived' };

export interface StepRecord {
  stepId: string;
  type: string;
  outcome: string;
  /** Workflow time when the step finished. */
  at: string;
  messageId?: string;
  /** Random splits: the branch taken. */
  branch?: string;
}

export interface JourneyState {
  flowId: string;
  flowVersion: number;
  contactId: string;
  status: 'running' | 'completed' | 'exited';
  /** The flow's status as last signalled: a paused flow holds the journey before its next send. */
  flowStatus: FlowStatus;
  currentStep?: string;
  /** While a delay or a wait runs: when it ends unless something happens first. */
  waitingUntil?: string;
  exit?: JourneyExit;
  steps: StepRecord[];
  /** Events signalled to the journey so far (all runs; a redelivered event counts once). */
  signals?: number;
  /** Runs before the current one (continue-as-new keeps the journey's history small). */
  runs?: number;
}

export type JourneyResult = Pick<JourneyState, 'status' | 'exit' | 'steps'>;

/** Delivers one of the contact's events to a running journey (flow filters, waits, engagement). */
export const contactEventSignal = defineSignal<[JourneyEvent]>('contactEvent');

/** The flow was paused, resumed or archived. */
export const flowStatusSignal = defineSignal<[{ status: FlowStatus }]>('flowStatusChanged');

/** Where the journey is and what it did so far. */
export const journeyStateQuery = defineQuery<JourneyState>('journeyState');
