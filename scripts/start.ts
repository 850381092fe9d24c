/**
 * `npm start`: the whole system in one process for development and trials: Postgres (local or
 * embedded), a Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS is set), migrations,
 * the journey worker with the calendar clock, and the API (stack/compose.ts).
 */
import { runStack } from '../stack/compose';

runStack({ roles: ['api', 'worker'], development: true });
