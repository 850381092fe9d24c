/** Layer rules, checked in `npm test` (`npm run deps`). Why each exists is in its comment. */
const TOP =
  '^(api|routing|workflows|activities|worker|flows|audiences|campaigns|calendar|connectors|engagement|db|runtime|scripts|stack|sending)/';
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment: 'A folder that depends on a folder depending back on it has no clear layer: split the shared part out.',
      severity: 'error',
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
    {
      name: 'workflows-import-pure-modules',
      comment: 'Workflow code runs in the deterministic sandbox: no I/O modules, no db, no activities implementation.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(db|api|routing|activities|worker|runtime|connectors|engagement|stack|scripts)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.tools|\\.data|test|bench)' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
