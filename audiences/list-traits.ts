/**
 * List membership carried by identify traits, in one documented shape:
 *
 *   traits: { lists: { newsletter: true, vip: false } }
 *
 * `true` joins the list, `false` leaves it; any other value, and lists that do not exist, are
 * ignored (an identify is never refused for its traits). Lists are not created this way: a typo
 * must not make a new list. The `lists` trait is not a profile trait: membership lives in
 * `list_memberships`, where API changes keep it current, so the store leaves it out of the
 * profile (`withoutListTraits`).
 */
import { MEMBERSHIP_SOURCE } from './list-events';

export const LISTS_TRAIT = 'lists';

export interface ListChanges {
  join: string[];
  leave: string[];
}

export const NO_LIST_CHANGES: ListChanges = { join: [], leave: [] };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function listChangesFromTraits(traits: Record<string, unknown>): ListChanges {
  const lists = traits[LISTS_TRAIT];
  if (!isRecord(lists)) return NO_LIST_CHANGES;
  const entries = Object.entries(lists).filter(([id]) => id.length > 0);
  return {
    join: entries.filter(([, v]) => v === true).map(([id]) => id),
    leave: entries.filter(([, v]) => v === false).map(([id]) => id),
  };
}

export const hasListChanges = (changes: ListChanges): boolean => changes.join.length > 0 || changes.leave.length > 0;

export function withoutListTraits(traits: Record<string, unknown>): Record<string, unknown> {
  if (!(LISTS_TRAIT in traits)) return traits;
  const { [LISTS_TRAIT]: _lists, ...rest } = traits;
  return rest;
}

/**
 * The membership source of a call's list changes: the connector that sent it (its
 * `context.source.name`, e.g. shopify), else `identify`.
 */
export function listSourceOf(context: Record<string, unknown> | undefined): string {
  const source = context?.source;
  const name = isRecord(source) ? source.name : undefined;
  return typeof name === 'string' && MEMBERSHIP_SOURCE.test(name) ? name : 'identify';
}
