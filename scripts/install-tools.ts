/**
 * `npm run tools:install`: everything the tests run that npm does not install, ahead of time
 * (CI calls it): the Temporal CLI and test server, and the Python client libraries the contract
 * tests drive (scripts/python-tools.ts).
 */
import { temporalCli, temporalTestServer } from '../runtime/temporal-binaries';
import { PYTHON_LIBRARIES, pythonLibrary } from './python-tools';

for (const [name, exe] of [
  ['temporal CLI', temporalCli()],
  ['time-skipping test server', temporalTestServer()],
] as const) {
  process.stdout.write(
    `${name}: ${exe.type === 'existing-path' ? exe.path : 'not installed; the Temporal SDK will download it'}\n`,
  );
}
for (const library of PYTHON_LIBRARIES)
  process.stdout.write(`${library.name} ${library.version}: ${pythonLibrary(library)}\n`);
