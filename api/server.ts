/** `npm run api` (or `node dist/api/server.js`): the HTTP API alone, next to `npm run worker` (stack/compose.ts). */
import { runStack } from '../stack/compose';

runStack({ roles: ['api'] });
