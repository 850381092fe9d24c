/**
 * Folder and module cycles, checked in `npm test` (`npm run deps`). Rules dependency-cruiser cannot see without the
 * TypeScript JS API (type-only imports, SQL in strings, environment reads) are in test/layers.test.ts.
 */
const TOP =
  '^(api|routing|workflows|activities|worker|flows|audiences|campaigns|calendar|catalog|connectors|engagement|db|runtime|metrics|scripts|services|stack|sending|locales)/';
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      comment:
        'A folder that depends on a folder depending back on it has no clear layer: move the shared part to the ' +
        'folder that owns the concept, lower down (docs/architecture.md, "Folder layers").',
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
      name: 'services-below-routes',
      comment:
        'Services (services/) hold what a route does beyond parse, call and answer; routes call them, never the ' +
        'other way: a service that needs something of api/ takes it as an argument.',
      severity: 'error',
      from: { path: '^services/' },
      to: { path: '^api/' },
    },
    {
      name: 'repositories-below-services',
      comment: 'Repositories (db/) are called by services and routes; they know neither.',
      severity: 'error',
      from: { path: '^db/' },
      to: { path: '^(api|services)/' },
    },
    {
      name: 'catalog-is-pure',
      comment:
        'The catalog (catalog/) is the product schema and pure rules on it: recommendations, workflows and routes ' +
        'import it, so it imports nothing that does I/O (repositories, Temporal, routes, the environment).',
      severity: 'error',
      from: { path: '^catalog/' },
      to: {
        path:
          '^(api|routing|workflows|activities|worker|audiences|campaigns|engagement|db|runtime|metrics|scripts|' +
          'services|stack|sending|connectors)/|^node_modules/(pg|pg-[^/]+|@temporalio/[^/]+|express)/',
      },
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
    // The entry points api/server.ts and worker/main.ts only call the composition root (stack/compose.ts), which
    // imports api/ and worker/: they sit above stack/, not in their folders' layer, and their paths are what
    // deployments run (dist/api/server.js, dist/worker/main.js), so they stay where they are and are left out here.
    exclude: { path: '^(node_modules|dist|\\.tools|\\.data|test|bench|docs)|^(api/server|worker/main)\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
