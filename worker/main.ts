/**
 * `npm run worker` (or `node dist/worker/main.js`): the journey worker and the calendar clock, next
 * to the API (stack/compose.ts).
 */
import { runStack } from '../stack/compose';

runStack({ roles: ['worker'] });
