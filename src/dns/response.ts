// Response assembly from a parsed query and pre-encoded records: a header
// written by hand, the query's question echoed byte for byte (so the
// client's letter case survives), the record sections pasted in, and an
// OPT record when the query had one (RFC 6891). A UDP answer that would
// exceed the client's limit is replaced by an empty one with TC set
// (RFC 1035 §4.2.1, RFC 7766): the client retries over TCP.
import { type EncodedRecords, FLAG, HEADER_BYTES, type Query, RCODE } from './codec.js';

/** UDP payload size we advertise and cap our UDP answers at (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;
export const PLAIN_UDP_SIZE = 512;
const OPT_BYTES = 11;

export type Transport = 'udp' | 'tcp';

export interface ResponseParts {
  rcode: number;
  authoritative: boolean;
  answers?: readonly EncodedRecords[];
  authority?: readonly EncodedRecords[];
}

/** The most bytes a UDP reply to this query may carry. */
export function udpLimit(query: Query): number {
  return query.edns ? Math.min(query.edns.udpSize, EDNS_UDP_SIZE) : PLAIN_UDP_SIZE;
}

export function buildResponse(query: Query, parts: ResponseParts, transport: Transport): Buffer {
  const answers = parts.answers ?? [];
  const authority = parts.authority ?? [];
  const question = query.questionEnd - HEADER_BYTES;
  let size = HEADER_BYTES + question + (query.edns ? OPT_BYTES : 0);
  let ancount = 0;
  let nscount = 0;
  for (const rr of answers) {
    size += rr.bytes.length;
    ancount += rr.count;
  }
  for (const rr of authority) {
    size += rr.bytes.length;
    nscount += rr.count;
  }
  if (transport === 'udp' && size > udpLimit(query)) return truncated(query, parts.rcode, parts.authoritative);
  const out = Buffer.allocUnsafe(size);
  let offset = writeHeader(out, query, parts.rcode, parts.authoritative, false, ancount, nscount);
  for (const rr of answers) offset += rr.bytes.copy(out, offset);
  for (const rr of authority) offset += rr.bytes.copy(out, offset);
  if (query.edns) writeOpt(out, offset, parts.rcode);
  return out;
}

/** Header and question only, TC set. */
export function truncated(query: Query, rcode: number, authoritative: boolean): Buffer {
  const out = Buffer.allocUnsafe(query.questionEnd + (query.edns ? OPT_BYTES : 0));
  const offset = writeHeader(out, query, rcode, authoritative, true, 0, 0);
  if (query.edns) writeOpt(out, offset, rcode);
  return out;
}

/** An answer carrying only an rcode (SERVFAIL, REFUSED, BADVERS…) for a query that parsed. */
export function errorResponse(query: Query, rcode: number): Buffer {
  return buildResponse(query, { rcode, authoritative: false }, 'tcp');
}

/** A bare header with an rcode, for queries too broken to echo (FORMERR, NOTIMP). */
export function headerOnly(id: number, queryFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt16BE(id, 0);
  // Keep opcode and RD from the query, set QR and RA.
  out.writeUInt16BE(0x8000 | (queryFlags & (0x7800 | FLAG.RD)) | FLAG.RA | (rcode & 0xf), 2);
  return out;
}

/**
 * Rewrites a response that came from elsewhere (a forwarder) for this
 * query: the client's id, and TC-truncation for UDP if it is too large.
 */
export function relayResponse(query: Query, response: Uint8Array, transport: Transport): Buffer {
  if (transport === 'udp' && response.length > udpLimit(query)) {
    return truncated(query, (response[3] ?? 0) & 0xf, false);
  }
  const out = Buffer.from(response);
  out.writeUInt16BE(query.id, 0);
  return out;
}

function writeHeader(
  out: Buffer,
  query: Query,
  rcode: number,
  authoritative: boolean,
  tc: boolean,
  ancount: number,
  nscount: number,
): number {
  out.writeUInt16BE(query.id, 0);
  let flags = 0x8000 | (query.flags & FLAG.RD) | FLAG.RA | (rcode & 0xf);
  if (authoritative) flags |= FLAG.AA;
  if (tc) flags |= FLAG.TC;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(ancount, 6);
  out.writeUInt16BE(nscount, 8);
  out.writeUInt16BE(query.edns ? 1 : 0, 10);
  const q = query.bytes;
  out.set(q.subarray(HEADER_BYTES, query.questionEnd), HEADER_BYTES);
  return query.questionEnd;
}

function writeOpt(out: Buffer, offset: number, rcode: number): void {
  out[offset] = 0; // root name
  out.writeUInt16BE(41, offset + 1);
  out.writeUInt16BE(EDNS_UDP_SIZE, offset + 3);
  out[offset + 5] = rcode >> 4; // extended rcode, upper 8 bits
  out[offset + 6] = 0; // version
  out.writeUInt16BE(0, offset + 7); // flags (we do not sign: DO stays clear)
  out.writeUInt16BE(0, offset + 9); // rdlength
}

export { RCODE };
