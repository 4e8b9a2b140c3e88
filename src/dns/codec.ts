// The DNS wire codec: the only module that imports dns-packet. Incoming
// queries are read through a thin view (header and question scanned by
// hand, the rest validated by dns-packet inside a guard), so a malformed
// message becomes a parse result, never an exception. Records are encoded
// once, when the zone is built, into position-independent bytes (no name
// compression) that responses concatenate.
import dnsPacket from 'dns-packet';

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (EDNS) rcode: upper 8 bits go in the OPT record. */
  BADVERS: 16,
} as const;

export const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;

export interface Edns {
  /** Requester's UDP payload size (already raised to at least 512). */
  udpSize: number;
  version: number;
}

/** A query that parsed. `bytes[12..questionEnd]` is the raw question, echoed verbatim in replies. */
export interface Query {
  readonly bytes: Uint8Array;
  readonly id: number;
  /** The 16 flag bits of the query as received. */
  readonly flags: number;
  /** Lower-case name without the trailing dot ("" for the root). */
  readonly name: string;
  /** False if a label holds a dot or a byte outside printable ASCII: no Kubernetes name can match. */
  readonly plainName: boolean;
  readonly type: number;
  readonly qclass: number;
  readonly questionEnd: number;
  readonly edns: Edns | undefined;
}

export type QueryParse =
  | { ok: true; query: Query }
  /** Not answerable: shorter than a header, or a response (never answer those: loops). */
  | { ok: false; drop: true; reason: 'short' | 'response' }
  /** Answer with just a header carrying this rcode (FORMERR, NOTIMP). */
  | { ok: false; drop: false; id: number; flags: number; rcode: number; reason: string };

/** Reads a query. Never throws, whatever the bytes. */
export function parseQuery(bytes: Uint8Array): QueryParse {
  if (bytes.length < HEADER_BYTES) return { ok: false, drop: true, reason: 'short' };
  const id = (bytes[0] ?? 0) * 256 + (bytes[1] ?? 0);
  const flags = (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0);
  if (flags & 0x8000) return { ok: false, drop: true, reason: 'response' };
  const fail = (rcode: number, reason: string): QueryParse => ({ ok: false, drop: false, id, flags, rcode, reason });
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return fail(RCODE.NOTIMP, 'opcode');
  const qdcount = read16(bytes, 4);
  const others = read16(bytes, 6) + read16(bytes, 8) + read16(bytes, 10);
  if (qdcount !== 1) return fail(RCODE.FORMERR, 'qdcount');

  // Question name: plain labels only (a pointer has nothing before it to point at).
  let offset = HEADER_BYTES;
  let name = '';
  let plainName = true;
  for (;;) {
    const len = bytes[offset];
    if (len === undefined) return fail(RCODE.FORMERR, 'truncated name');
    offset++;
    if (len === 0) break;
    if (len > 63) return fail(RCODE.FORMERR, 'label type');
    if (offset + len > bytes.length) return fail(RCODE.FORMERR, 'truncated name');
    if (offset - HEADER_BYTES + len + 1 > MAX_NAME_BYTES) return fail(RCODE.FORMERR, 'name too long');
    if (name.length > 0) name += '.';
    for (let i = offset; i < offset + len; i++) {
      let c = bytes[i] ?? 0;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      else if (c === 0x2e || c < 0x21 || c > 0x7e) plainName = false;
      name += String.fromCharCode(c);
    }
    offset += len;
  }
  if (offset + 4 > bytes.length) return fail(RCODE.FORMERR, 'truncated question');
  const type = read16(bytes, offset);
  const qclass = read16(bytes, offset + 2);
  const questionEnd = offset + 4;
  if (type === TYPE.OPT) return fail(RCODE.FORMERR, 'OPT question');

  let edns: Edns | undefined;
  if (others > 0) {
    // Rare in queries except the EDNS OPT record; let dns-packet check every section.
    let decoded: ReturnType<typeof dnsPacket.decode>;
    try {
      decoded = dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    } catch {
      return fail(RCODE.FORMERR, 'sections');
    }
    let opts = 0;
    for (const rr of decoded.additionals ?? []) {
      if (rr.type !== 'OPT') continue;
      if (++opts > 1 || rr.name !== '.') return fail(RCODE.FORMERR, 'OPT record');
      edns = { udpSize: Math.max(512, rr.udpPayloadSize), version: rr.ednsVersion };
    }
    if (
      (decoded.answers ?? []).some((rr) => rr.type === 'OPT') ||
      (decoded.authorities ?? []).some((rr) => rr.type === 'OPT')
    ) {
      return fail(RCODE.FORMERR, 'OPT record');
    }
  }
  return { ok: true, query: { bytes, id, flags, name, plainName, type, qclass, questionEnd, edns } };
}

function read16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] ?? 0) * 256 + (bytes[offset + 1] ?? 0);
}

/** Record data kvpn emits. */
export type RecordSpec =
  | { name: string; type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS'; ttl: number; data: string }
  | { name: string; type: 'SRV'; ttl: number; data: { priority: number; weight: number; port: number; target: string } }
  | {
      name: string;
      type: 'SOA';
      ttl: number;
      data: {
        mname: string;
        rname: string;
        serial: number;
        refresh: number;
        retry: number;
        expire: number;
        minimum: number;
      };
    };

/** Pre-encoded resource records: `count` RRs, back to back. */
export interface EncodedRecords {
  readonly count: number;
  /** Owner names written out in full: valid anywhere in a message. */
  readonly bytes: Buffer;
  /**
   * The same records with the owner name replaced by a pointer to offset 12
   * (the question's name): for records owned by the queried name. Only set
   * when every record has the same owner.
   */
  readonly atQuestion?: EncodedRecords;
}

export const NO_RECORDS: EncodedRecords = { count: 0, bytes: Buffer.alloc(0) };

/** Encodes records once; the result can be pasted into any message. */
export function encodeRecords(records: readonly RecordSpec[]): EncodedRecords {
  if (records.length === 0) return NO_RECORDS;
  const one = records.map((rr) =>
    Buffer.from(
      dnsPacket.encode({ type: 'response', id: 0, answers: [rr as dnsPacket.Answer] }).subarray(HEADER_BYTES),
    ),
  );
  const bytes = Buffer.concat(one);
  const owner = records[0]?.name;
  if (!records.every((rr) => rr.name === owner)) return { count: records.length, bytes };
  const pointer = Buffer.from([0xc0, HEADER_BYTES]);
  const compact = Buffer.concat(one.flatMap((rr) => [pointer, rr.subarray(wireNameLength(rr))]));
  return { count: records.length, bytes, atQuestion: { count: records.length, bytes: compact } };
}

/** Length of the uncompressed name at the start of `bytes`. */
function wireNameLength(bytes: Buffer): number {
  let offset = 0;
  while ((bytes[offset] ?? 0) !== 0) offset += (bytes[offset] ?? 0) + 1;
  return offset + 1;
}

export type DnsMessage = dnsPacket.DecodedPacket;
export type DnsRecord = dnsPacket.Answer;
export type DnsOutgoing = dnsPacket.Packet;

export const FLAG = {
  AA: dnsPacket.AUTHORITATIVE_ANSWER,
  TC: dnsPacket.TRUNCATED_RESPONSE,
  RD: dnsPacket.RECURSION_DESIRED,
  RA: dnsPacket.RECURSION_AVAILABLE,
} as const;

/** Decodes a whole message (responses from upstreams, test clients); undefined if malformed. */
export function decodeMessage(bytes: Uint8Array): DnsMessage | undefined {
  try {
    return dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch {
    return undefined;
  }
}

/** Encodes a message (queries from clients, the forwarder's own queries). */
export function encodeMessage(message: DnsOutgoing): Buffer {
  return dnsPacket.encode(message);
}

/** The rcode of a response, from its header (the 4-bit part). */
export function headerRcode(bytes: Uint8Array): number {
  return (bytes[3] ?? 0) & 0xf;
}

/** The answer records of a response re-encoded for pasting, or undefined if it does not decode. */
export function answerRecordsOf(bytes: Uint8Array): EncodedRecords | undefined {
  const message = decodeMessage(bytes);
  if (!message) return undefined;
  const answers = (message.answers ?? []).filter((rr) => rr.type !== 'OPT');
  if (answers.length === 0) return NO_RECORDS;
  try {
    return encodeRecords(answers as RecordSpec[]);
  } catch {
    return undefined;
  }
}

/** A query for one name and numeric type, RD set, id 0 (forwarders put their own). */
export function encodeQuestion(name: string, type: number): Buffer {
  const labels = name.split('.').filter(Boolean);
  const nameBytes = labels.reduce((n, l) => n + 1 + Buffer.byteLength(l, 'latin1'), 1);
  const out = Buffer.alloc(HEADER_BYTES + nameBytes + 4);
  out.writeUInt16BE(FLAG.RD, 2);
  out.writeUInt16BE(1, 4);
  let offset = HEADER_BYTES;
  for (const label of labels) {
    const n = out.write(label, offset + 1, 'latin1');
    out[offset] = n;
    offset += n + 1;
  }
  out[offset++] = 0;
  out.writeUInt16BE(type, offset);
  out.writeUInt16BE(CLASS_IN, offset + 2);
  return out;
}
