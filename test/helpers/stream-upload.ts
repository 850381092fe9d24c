/** Streams generated lines as one POST over real HTTP (a large import), and returns the answer's text. */
import http from 'node:http';
import { Readable } from 'node:stream';

export function postStreamed(
  port: number,
  path: string,
  headers: Record<string, string>,
  lines: Iterable<string>,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path, headers }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    Readable.from(lines).pipe(req);
  });
}
