/** Tests run against real servers (Temporal, Postgres, fake providers on 127.0.0.1): one file at a time. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': '<rootDir>/test/helpers/esbuild-transform.js' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  // Every test file closes its servers and pools; this only keeps a stray child process
  // from holding CI until its time limit.
  forceExit: true,
};
