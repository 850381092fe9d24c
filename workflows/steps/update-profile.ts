import type { StepOf } from '../../flows/schema';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { applyStop, guardRequest, type StepContext, type StepResult } from './context';

export async function runUpdateProfile(step: StepOf<'update_profile'>, ctx: StepContext): Promise<StepResult> {
  const result = await bookkeeping.updateProfile.executeWithOptions(
    withSummary(bookkeepingOptions, `${step.id}: update profile`),
    [{ ...guardRequest(ctx), step }],
  );
  if (result.status === 'exited' || result.status === 'held') return { outcome: applyStop(ctx, result) };
  if (result.status === 'unchanged') return { outcome: 'already applied' };
  return { outcome: result.entered.length ? `updated; entered ${result.entered.join(', ')}` : 'updated' };
}
