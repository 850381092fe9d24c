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
 * Deterministic from flow and contact (and the journey key of keyed flows: one journey per
 * cart), so a contact runs at most one such journey at a time and support can type it into
 * the Temporal UI. Flow ids are slugs (no ':').
 */
export function journeyWorkflowId(flowId: string, contactId: string, journeyKey?: string): string {
  return journeyKey === undefined ? `journey:${flowId}:${contactId}` : `journey:${flowId}:${contactId}:${journeyKey}`;
}
