import type { JourneyRef } from '../../activities/send-message';
import type { JourneyInput, JourneyState } from '../messages';

/** What every step executor gets: the journey's input, identity and live state. */
export interface StepContext {
  input: JourneyInput;
  journey: JourneyRef;
  state: JourneyState;
}

export const exited = (ctx: StepContext) => (): boolean => ctx.state.exit !== undefined;
