/**
 * What a segment's membership depends on (pure), computed once at save: the router's hook
 * re-evaluates a contact only for the segments an arriving fact can change, and arms a clock
 * only for segments whose membership can flip with time alone.
 */
import type { Condition, PropertyCondition } from './schema';
// GraphIssue is what validate.ts calls Issue: importing validate.ts would make a module cycle.
import type { GraphIssue as Issue } from './graph';

export interface SegmentDependencies {
  /** Event names whose arrival can change membership. */
  events: string[];
  /** Profile traits are read (identify calls, traits carried by track calls). */
  traits: boolean;
  /** Segments this one is defined on (their Segment Entered / Exited re-evaluate it). */
  segments: string[];
  lists: boolean;
  consent: boolean;
  /** Membership can change with time alone (windows, first/last, ageing date traits). */
  timeBased: boolean;
}

const ageing = (p: PropertyCondition) => p.op === 'within_last' || p.op === 'more_than_ago';

export function segmentDependencies(condition: Condition): SegmentDependencies {
  const deps = {
    events: new Set<string>(),
    traits: false,
    segments: new Set<string>(),
    lists: false,
    consent: false,
    timeBased: false,
  };
  const visit = (c: Condition): void => {
    if ('all' in c) c.all.forEach(visit);
    else if ('any' in c) c.any.forEach(visit);
    else if ('not' in c) visit(c.not);
    else if ('profile' in c) {
      deps.traits = true;
      if (ageing(c.profile)) deps.timeBased = true;
    } else if ('segment' in c) deps.segments.add(c.segment);
    else if ('list' in c) deps.lists = true;
    else if ('consent' in c) deps.consent = true;
    else if ('event' in c) {
      deps.events.add(c.event);
      if (c.within || c.first || c.last || (c.where ?? []).some(ageing)) deps.timeBased = true;
    }
  };
  visit(condition);
  return { ...deps, events: [...deps.events].sort(), segments: [...deps.segments].sort() };
}

/**
 * What the flow language allows but a segment cannot mean: it has no trigger event and sends
 * no messages. Referenced segments must exist (so definitions form no cycle: a segment can only
 * name older ones, and segments are not edited in place).
 */
export function segmentConditionIssues(
  condition: Condition,
  existingSegments: ReadonlySet<string>,
  selfId?: string,
): Issue[] {
  const issues: Issue[] = [];
  const visit = (c: Condition, path: Issue['path']): void => {
    if ('all' in c) c.all.forEach((x, i) => visit(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => visit(x, [...path, 'any', i]));
    else if ('not' in c) visit(c.not, [...path, 'not']);
    else if ('trigger' in c)
      issues.push({ path, message: 'a segment has no trigger event: use `profile` or an event condition' });
    else if ('message' in c)
      issues.push({
        path,
        message: 'a segment sends no messages: use an event condition on "Email Opened" or "Email Clicked"',
      });
    else if ('segment' in c) {
      if (c.segment === selfId) issues.push({ path: [...path, 'segment'], message: 'a segment cannot contain itself' });
      else if (!existingSegments.has(c.segment))
        issues.push({ path: [...path, 'segment'], message: `no segment "${c.segment}"` });
    } else if ('profile' in c) checkValue(c.profile, [...path, 'profile']);
    else if ('event' in c) (c.where ?? []).forEach((w, i) => checkValue(w, [...path, 'where', i]));
  };
  const checkValue = (p: PropertyCondition, path: Issue['path']) => {
    if ('value' in p && typeof p.value === 'object')
      issues.push({
        path: [...path, 'value'],
        message: 'a segment has no trigger event to compare with (`fromTrigger`)',
      });
  };
  visit(condition, ['condition']);
  return issues;
}

/** How a condition's truth can move with time alone (no new fact): false→true, true→false. */
export interface TimeDirection {
  canRise: boolean;
  canFall: boolean;
}

const NONE: TimeDirection = { canRise: false, canFall: false };
const BOTH: TimeDirection = { canRise: true, canFall: true };
const union = (a: TimeDirection, b: TimeDirection): TimeDirection => ({
  canRise: a.canRise || b.canRise,
  canFall: a.canFall || b.canFall,
});
/** A quantity that only grows (true when "above": rises) or only shrinks with time. */
const growing = (op: string): TimeDirection =>
  op === 'gt' || op === 'gte'
    ? { canRise: true, canFall: false }
    : op === 'lt' || op === 'lte'
      ? { canRise: false, canFall: true }
      : BOTH;
const shrinking = (op: string): TimeDirection =>
  op === 'gt' || op === 'gte'
    ? { canRise: false, canFall: true }
    : op === 'lt' || op === 'lte'
      ? { canRise: true, canFall: false }
      : BOTH;

/**
 * Time alone only makes events leave windows and dates age. A clock is armed for a contact
 * only when that can change its membership: a member of "spent 500 in 365 days" can fall out
 * as orders age, a non-member cannot get in, so only members get a clock. Sums assume amounts
 * are not negative (refunds are their own events), so a windowed sum only shrinks.
 */
export function timeDirection(condition: Condition): TimeDirection {
  if ('all' in condition) return condition.all.map(timeDirection).reduce(union, NONE);
  if ('any' in condition) return condition.any.map(timeDirection).reduce(union, NONE);
  if ('not' in condition) {
    const inner = timeDirection(condition.not);
    return { canRise: inner.canFall, canFall: inner.canRise };
  }
  if ('profile' in condition) {
    if (condition.profile.op === 'within_last') return BOTH; // a future date enters, then ages out
    return condition.profile.op === 'more_than_ago' ? { canRise: true, canFall: false } : NONE;
  }
  if (!('event' in condition)) return NONE;
  const c = condition;
  let d = NONE;
  if ((c.where ?? []).some(ageing)) d = BOTH;
  if (c.within) {
    const count =
      c.count ?? (c.sum || c.min || c.max || c.first || c.last ? undefined : { op: 'gte' as const, value: 1 });
    // The matching set only shrinks: counts and sums shrink, a min can only grow, a max shrink.
    if (count) d = union(d, count.op === 'eq' ? BOTH : shrinking(count.op));
    if (c.sum) d = union(d, shrinking(c.sum.op));
    if (c.min) d = union(d, growing(c.min.op));
    if (c.max) d = union(d, shrinking(c.max.op));
    // An empty window also makes first/last conditions false.
    if (c.first || c.last) d = union(d, { canRise: false, canFall: true });
  }
  for (const occurrence of [c.first, c.last]) {
    if (!occurrence) continue;
    d = union(
      d,
      occurrence.op === 'within_last' ? { canRise: false, canFall: true } : { canRise: true, canFall: false },
    );
    // A window dropping the first event makes `first` newer again.
    if (c.within && occurrence === c.first) d = BOTH;
  }
  return d;
}

/** Whether a contact with this membership needs a clock at all. */
export const needsClock = (direction: TimeDirection, member: boolean) =>
  member ? direction.canFall : direction.canRise;
