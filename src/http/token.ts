// The cluster token (config `token`), as internal endpoints and links check it: `Authorization:
// Bearer <token>`, compared in constant time.
import { timingSafeEqual } from 'node:crypto';

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const given = Buffer.from(header);
  const wanted = Buffer.from(bearer(token));
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}
