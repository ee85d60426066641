// A process that logs through the server's stdout logger (asynchronous, buffered), for logger tests:
// `exit` logs and exits at once; `flush` logs, awaits flush(), tells the parent and waits to be killed.
import { createJsonLogger } from '../../src/http/logger.js';

const mode = process.argv[2];
const logger = createJsonLogger('info');
logger.info('child_line', { mode, secret: 'sk_child' });
logger.debug('child_debug', {});
if (mode === 'exit') process.exit(0);
await logger.flush();
process.send?.('flushed');
setInterval(() => {}, 60_000);
