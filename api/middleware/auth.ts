import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../errors';

/**
 * `Authorization: Bearer KEY`, or Basic with the key as user name and an empty password,
 * which is what Segment's libraries send with a write key.
 */
export function requireApiKey(keys: string[]): RequestHandler {
  const accepted = keys.map((k) => Buffer.from(k));
  const matches = (candidate: string) => {
    const given = Buffer.from(candidate);
    return accepted.some((key) => key.length === given.length && timingSafeEqual(key, given));
  };
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const [scheme, value = ''] = header.split(' ', 2);
    let candidate: string | undefined;
    if (/^bearer$/i.test(scheme)) candidate = value.trim();
    if (/^basic$/i.test(scheme)) candidate = Buffer.from(value, 'base64').toString('utf8').split(':')[0];
    if (candidate && matches(candidate)) return next();
    res.set('WWW-Authenticate', 'Bearer, Basic realm="parcours"');
    next(new HttpError(401, 'unauthorized', candidate ? 'API key is not valid' : 'missing API key: send "Authorization: Bearer <key>"'));
  };
}
