/** Event conditions of journeys answered in SQL, by the compiler segments use (audiences/segment-sql.ts). */
import { eventConditionsSql } from '../audiences/segment-sql';
import type { EventCondition } from '../flows/schema';
import type { Queryable } from './pool';

/**
 * One answer per condition, in order, over every matching stored event of the contact (no cap: a count of 1,200 is
 * seen as a segment sees it). `eventsFrom` (ms) is where conditions without `within` start counting.
 */
export async function answerEventConditions(
  q: Queryable,
  contactId: string,
  conditions: readonly EventCondition[],
  now: number,
  eventsFrom?: number,
): Promise<boolean[]> {
  if (conditions.length === 0) return [];
  const sql = eventConditionsSql(
    conditions,
    contactId,
    new Date(now),
    eventsFrom === undefined ? undefined : new Date(eventsFrom),
  );
  const { rows } = await q.query<Record<string, boolean>>(sql.text, sql.values);
  return conditions.map((_, i) => rows[0]?.[`t${i}`] === true);
}
