/**
 * What a segment's membership depends on (pure), computed once at save: the router's hook
 * re-evaluates a contact only for the segments an arriving fact can change, and arms a clock
 * only for segments whose membership can flip with time alone.
 */
import type { Condition, PropertyCondition } from '../flows/schema';
import type { Issue } from '../flows/validate';

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
  const deps = { events: new Set<string>(), traits: false, segments: new Set<string>(), lists: false, consent: false, timeBased: false };
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
export function segmentConditionIssues(condition: Condition, existingSegments: ReadonlySet<string>, selfId?: string): Issue[] {
  const issues: Issue[] = [];
  const visit = (c: Condition, path: Issue['path']): void => {
    if ('all' in c) c.all.forEach((x, i) => visit(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => visit(x, [...path, 'any', i]));
    else if ('not' in c) visit(c.not, [...path, 'not']);
    else if ('trigger' in c) issues.push({ path, message: 'a segment has no trigger event: use `profile` or an event condition' });
    else if ('message' in c) issues.push({ path, message: 'a segment sends no messages: use an event condition on "Email Opened" or "Email Clicked"' });
    else if ('segment' in c) {
      if (c.segment === selfId) issues.push({ path: [...path, 'segment'], message: 'a segment cannot contain itself' });
      else if (!existingSegments.has(c.segment)) issues.push({ path: [...path, 'segment'], message: `no segment "${c.segment}"` });
    } else if ('profile' in c) checkValue(c.profile, [...path, 'profile']);
    else if ('event' in c) (c.where ?? []).forEach((w, i) => checkValue(w, [...path, 'where', i]));
  };
  const checkValue = (p: PropertyCondition, path: Issue['path']) => {
    if ('value' in p && typeof p.value === 'object') issues.push({ path: [...path, 'value'], message: 'a segment has no trigger event to compare with (`fromTrigger`)' });
  };
  visit(condition, ['condition']);
  return issues;
}
