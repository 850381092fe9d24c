/**
 * `npm run tools:install`: everything the tests run that npm does not install, ahead of time
 * (CI calls it): the Temporal CLI and test server, and Segment's Python library.
 */
import { temporalCli, temporalTestServer } from '../runtime/temporal-binaries';
import { SEGMENT_PYTHON_NAME, SEGMENT_PYTHON_VERSION, segmentPython } from './python-tools';

for (const [name, exe] of [
  ['temporal CLI', temporalCli()],
  ['time-skipping test server', temporalTestServer()],
] as const) {
  process.stdout.write(
    `${name}: ${exe.type === 'existing-path' ? exe.path : 'not installed; the Temporal SDK will download it'}\n`,
  );
}
process.stdout.write(`${SEGMENT_PYTHON_NAME} ${SEGMENT_PYTHON_VERSION}: ${segmentPython()}\n`);
