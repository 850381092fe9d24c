/**
 * What a journey reads from the events signalled to it: per event name, the property paths
 * its conditions look at (flow filters and goal, splits, wait_for_event `where`, engagement
 * with its messages). Signals carry only those properties, not whole 32 KB payloads, so a
 * long journey's history stays small. The trigger is not concerned: it travels whole in the
 * start input, since templates may read any of it.
 */
import { ENGAGEMENT_EVENTS } from './conditions';
import { MESSAGE_EVENTS } from './event-names';
import { eventsListenedTo, exitRules } from './exits';
import type { Condition, FlowDefinition, PropertyCondition } from './schema';

/** Event name -> property paths (dotted, as in conditions) the journey reads. */
export type Listens = Record<string, string[]>;

/** The property an engagement condition matches a message with. */
const MESSAGE_ID_PATH = 'message_id';

type ListenedFlow = Pick<FlowDefinition, 'exitWhen' | 'goal' | 'steps'> &
  Partial<Pick<FlowDefinition, 'onUnsubscribe'>>;

export function propertiesListenedTo(flow: ListenedFlow): Listens {
  const paths = new Map<string, Set<string>>(eventsListenedTo(flow).map((name) => [name, new Set<string>()]));
  const add = (name: string, where: readonly PropertyCondition[] | undefined) => {
    const set = paths.get(name);
    if (set) for (const p of where ?? []) set.add(p.property);
  };
  const visit = (condition: Condition): void => {
    if ('all' in condition) condition.all.forEach(visit);
    else if ('any' in condition) condition.any.forEach(visit);
    else if ('not' in condition) visit(condition.not);
    else if ('message' in condition)
      for (const name of Object.values(ENGAGEMENT_EVENTS)) paths.get(name)?.add(MESSAGE_ID_PATH);
    else if ('event' in condition) add(condition.event, condition.where);
  };
  for (const rule of exitRules(flow)) visit(rule.condition);
  for (const step of flow.steps) {
    if (step.type === 'split') visit(step.condition);
    if (step.type === 'wait_for_event') add(step.event, step.where);
    // A wait on a message's event listens to one message (flows/wait-scope.ts).
    if (step.type === 'wait_for_event' && MESSAGE_EVENTS.includes(step.event))
      paths.get(step.event)?.add(MESSAGE_ID_PATH);
  }
  // Engagement events are heard only to match them with this journey's messages.
  for (const name of Object.values(ENGAGEMENT_EVENTS)) paths.get(name)?.add(MESSAGE_ID_PATH);
  return Object.fromEntries([...paths].map(([name, set]) => [name, [...set].sort()]));
}

/**
 * The listed paths of `properties`, nested as they were (`a.b` keeps `{ a: { b } }`; a path
 * through an array keeps the element under its index as an object key, which `readPath`
 * reads the same way). `undefined` paths (rows from before slim signals) keep everything.
 */
export function slimProperties(
  properties: Record<string, unknown>,
  paths: readonly string[] | undefined,
): Record<string, unknown> {
  if (paths === undefined) return properties;
  const slim: Record<string, unknown> = {};
  for (const path of paths) {
    const keys = path.split('.');
    let source: unknown = properties;
    for (const key of keys) {
      source = source !== null && typeof source === 'object' ? (source as Record<string, unknown>)[key] : undefined;
    }
    if (source === undefined) continue;
    let target = slim;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      target = (
        next !== null && typeof next === 'object' && !Array.isArray(next) ? next : (target[key] = {})
      ) as Record<string, unknown>;
    }
    target[keys[keys.length - 1]] = source;
  }
  return slim;
}
