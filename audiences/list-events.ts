/**
 * The facts list membership produces: stored `track` events with reserved names, so flows
 * trigger on them like on any event (`trigger: { event: 'List Joined', where: [{ property:
 * 'list_id', op: 'equals', value: 'newsletter' }] }`).
 */
export const LIST_EVENTS = { joined: EVENTS.listJoined, left: EVENTS.listLeft } as const;
import { EVENTS } from '../flows/event-names';

/** The properties of both events. */
export interface ListEventProperties {
  list_id: string;
  list_name: string;
  /** How the membership started or ended: api, import, identify, shopify, list_deleted… */
  source: string;
}

/** What a membership source looks like: api, import, identify, shopify, a form's name… */
export const MEMBERSHIP_SOURCE = /^[a-z][a-z0-9_]{0,63}$/;

/** The source of the leaves a list's deletion causes. */
export const LIST_DELETED_SOURCE = 'list_deleted';

/**
 * Events are keyed `list-joined:<period id>` / `list-left:<period id>`: one per membership
 * period and direction, so a retry that changes nothing stores nothing.
 */
export const listEventMessagePrefix = (direction: 'joined' | 'left'): string => `list-${direction}:`;
