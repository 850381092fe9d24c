/** `npm run migrate`: apply pending migrations to the database `npm start` would use. */
import { migrate } from './migrate';
import { readEnv, secretsKey } from '../runtime/env';
import { createLogger } from '../runtime/logger';
import { resolveDatabase } from './postgres';

async function main(): Promise<void> {
  const env = readEnv();
  const log = createLogger(env.LOG_LEVEL);
  const database = await resolveDatabase(env, log);
  const applied = await migrate(database.url, { log: (line) => log.info(line), secretsKey: secretsKey(env) });
  log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
  await database.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
