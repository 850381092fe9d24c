/**
 * How journeys are named and found: one place for workflow ids, search attributes and the
 * task queue, imported by the API, the router, the worker, runtime/temporal.ts and the tests
 * (never by workflow code: it hashes with node:crypto).
 */
import { createHash } from 'node:crypto';
import { defineSearchAttributeKey } from '@temporalio/common';

export const JOURNEY_TASK_QUEUE = 'parcours-journeys';

/** Search attributes registered on the server, so support can list a contact's or a flow's journeys. */
export const ContactIdAttribute = defineSearchAttributeKey('ContactId', 'KEYWORD');
export const FlowIdAttribute = defineSearchAttributeKey('FlowId', 'KEYWORD');
export const JOURNEY_SEARCH_ATTRIBUTES = [ContactIdAttribute, FlowIdAttribute];

/** Journey keys up to this long appear as they are in the workflow id; longer ones are hashed. */
export const READABLE_JOURNEY_KEY_LENGTH = 64;
const HASHED_KEY_PREFIX = 'h~';

/**
 * Deterministic from flow and contact (and the journey key of keyed flows: one journey per
 * cart), so a contact runs at most one such journey at a time and support can type it into
 * the Temporal UI. Flow ids are slugs (no ':'). The key comes from an event property, so it
 * can be any length: a long one is replaced by its SHA-256 (Temporal refuses ids past 1,000
 * characters, and a 1,200-character cart id would block its event for good); the readable
 * key stays in the journey's memo and row. Short keys keep the ids they always had; one that
 * looks like a hash is hashed too, so no key can take another's id.
 */
export function journeyWorkflowId(flowId: string, contactId: string, journeyKey?: string): string {
  if (journeyKey === undefined) return `journey:${flowId}:${contactId}`;
  const bounded =
    journeyKey.length > READABLE_JOURNEY_KEY_LENGTH || journeyKey.startsWith(HASHED_KEY_PREFIX)
      ? `${HASHED_KEY_PREFIX}${createHash('sha256').update(journeyKey).digest('hex').slice(0, 40)}`
      : journeyKey;
  return `journey:${flowId}:${contactId}:${bounded}`;
}
