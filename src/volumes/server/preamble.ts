// The line a client sends before SFTP: `KVPN-FILES 1 <token>\n`. Pure: bytes
// in, the line and what follows it (already SFTP) out; the token's sha256
// compared in constant time (the server knows only that digest).
import { createHash, timingSafeEqual } from 'node:crypto';

export const PREAMBLE_MAX_BYTES = 1024;
const PREFIX = 'KVPN-FILES 1 ';

export type PreambleScan = { kind: 'incomplete' } | { kind: 'too-long' } | { kind: 'line'; line: string; rest: Buffer };

/** Looks for the newline in what arrived so far. */
export function scanPreamble(buf: Buffer): PreambleScan {
  const nl = buf.indexOf(0x0a);
  if (nl === -1) return buf.length >= PREAMBLE_MAX_BYTES ? { kind: 'too-long' } : { kind: 'incomplete' };
  if (nl >= PREAMBLE_MAX_BYTES) return { kind: 'too-long' };
  return { kind: 'line', line: buf.subarray(0, nl).toString('latin1'), rest: buf.subarray(nl + 1) };
}

/** The token's sha256, as the server is given it. */
export const tokenDigest = (token: string | Buffer): Buffer => createHash('sha256').update(token).digest();

/** undefined if the line (a latin1 byte string) carries the token whose sha256 is `digest`, else the reason to refuse it. */
export function checkPreamble(line: string, digest: Buffer): string | undefined {
  if (!line.startsWith(PREFIX)) return 'bad preamble';
  const sent = tokenDigest(Buffer.from(line.slice(PREFIX.length), 'latin1'));
  return digest.length === sent.length && timingSafeEqual(sent, digest) ? undefined : 'bad token';
}
