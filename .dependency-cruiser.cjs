/**
 * Folder and module cycles, checked in `npm test` (`npm run deps`). Rules dependency-cruiser cannot see without the
 * TypeScript JS API (type-only imports, SQL in strings, environment reads) are in test/layers.test.ts.
 */
const TOP =
  '^(api|routing|workflows|activities|worker|flows|audiences|campaigns|calendar|connectors|engagement|db|runtime|metrics|scripts|stack|sending|locales)/';
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment:
        'A folder that depends on a folder depending back on it has no clear layer: split the shared part out. ' +
        'A warning until the cycles listed by `npm run deps` are gone (dependency-cruiser cannot baseline them).',
      severity: 'warn',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: TOP },
      to: { circular: true },
    },
    {
      name: 'sql-only-in-db',
      comment: 'Repositories in db/ are the only modules that talk to Postgres.',
      severity: 'error',
      from: { path: TOP, pathNot: '^(db|runtime|scripts|stack)/' },
      to: { path: '^node_modules/(pg|pg-[^/]+)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.tools|\\.data|test|bench|docs)' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
