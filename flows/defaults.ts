/**
 * Fills what older flow snapshots lack (journeys started before a field existed carry the
 * flow as it was then). Pure: the workflow normalises its input with it.
 */
import type { FlowDefinition, QuietWindow } from './schema';
import { EVENTS } from './event-names';

const QUIET: QuietWindow = { from: '21:00', to: '09:00' };

export function withDefaults(flow: FlowDefinition): FlowDefinition {
  const partial = flow as Partial<FlowDefinition> &
    Pick<FlowDefinition, 'id' | 'version' | 'name' | 'trigger' | 'steps'>;
  return {
    ...flow,
    status: partial.status ?? 'live',
    exitWhen: partial.exitWhen ?? [],
    goal: partial.goal ?? { event: EVENTS.orderCompleted, exitOnGoal: false },
    reentry: partial.reentry ?? { mode: 'when_not_in_flow' },
    quietHours: partial.quietHours ?? { email: null, sms: QUIET, push: QUIET },
    smartSending: partial.smartSending ?? { enabled: true, hours: 16 },
    tracking: partial.tracking ?? { opens: false, clicks: false },
    onUnsubscribe: partial.onUnsubscribe ?? 'skip',
  };
}
