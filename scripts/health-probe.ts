/**
 * `node dist/scripts/health-probe.js api|worker [livez|readyz|health]`: exit 0 when that
 * process's probe (default /health, the same as /readyz) answers 200 within 4 s. For container
 * healthchecks: the slim Node image has no curl or wget.
 */
const target = process.argv[2];
const probePath = ['livez', 'readyz', 'health'].includes(process.argv[3] ?? '') ? process.argv[3] : 'health';
const port =
  target === 'api' ? (process.env.PORT ?? '3000') : target === 'worker' ? process.env.WORKER_HEALTH_PORT : undefined;

async function probe(): Promise<number> {
  if (!port) {
    process.stderr.write(
      target === 'worker'
        ? 'WORKER_HEALTH_PORT is not set: the worker serves no /health\n'
        : 'usage: health-probe api|worker\n',
    );
    return 2;
  }
  try {
    const res = await fetch(`http://127.0.0.1:${port}/${probePath}`, { signal: AbortSignal.timeout(4000) });
    process.stdout.write(`${res.status} ${await res.text()}\n`);
    return res.status === 200 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`${target} /${probePath} on port ${port}: ${(err as Error).message}\n`);
    return 1;
  }
}

void probe().then((code) => process.exit(code));
