/**
 * How journeys are named and found: one place for workflow ids, search attributes and the
 * task queue, imported by the API, the worker, the workflow and the tests.
 */
import { defineSearchAttributeKey } from '@temporalio/common';

export const JOURNEY_TASK_QUEUE = 'parcours-journeys';

/** Search attributes registered on the server, so support can list a contact's or a flow's journeys. */
export const ContactIdAttribute = defineSearchAttributeKey('ContactId', 'KEYWORD');
export const FlowIdAttribute = defineSearchAttributeKey('FlowId', 'KEYWORD');
export const JOURNEY_SEARCH_ATTRIBUTES = [ContactIdAttribute, FlowIdAttribute];

/**
 * Deterministic from flow and contact, so a contact runs at most one journey per flow at a
 * time and support can type it into the Temporal UI. Flow ids are slugs (no ':').
 */
export function journeyWorkflowId(flowId: string, contactId: string): string {
  return `journey:${flowId}:${contactId}`;
}
