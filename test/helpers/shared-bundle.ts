/** Where global-setup left this run's workflow bundle (a test-only variable, never read by the app). */
export const SHARED_BUNDLE_VARIABLE = 'PARCOURS_TEST_WORKFLOW_BUNDLE';

export function sharedBundlePath(): string | undefined {
  return process.env[SHARED_BUNDLE_VARIABLE] || undefined;
}
