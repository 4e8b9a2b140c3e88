// A small authoritative DNS server over UDP and TCP, answering from a
// ZoneFile (dns/zone.ts): the cluster DNS at the kube-dns ClusterIP (run as
// the coredns pod) and the laptop's upstream resolver both use it. This is
// the only module that imports dns-packet in test/cluster.
import dgram from 'node:dgram';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import * as packet from 'dns-packet';
import type { RRSet, ZoneFile } from './zone.js';

const UDP_LIMIT_BYTES = 512;
const RCODES: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export interface QueryLogEntry {
  name: string;
  type: string;
  rcode: string;
}

function soa(zone: string, ttl: number): packet.Answer {
  return {
    name: zone,
    type: 'SOA',
    ttl,
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  } as packet.Answer;
}

export class DnsServer {
  #zone: ZoneFile;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  readonly queries: QueryLogEntry[] = [];

  constructor(zone: ZoneFile) {
    this.#zone = zone;
  }

  setZone(zone: ZoneFile): void {
    this.#zone = zone;
  }

  /** Reloads the zone from `path` whenever the file (or its directory) changes. */
  async follow(path: string): Promise<void> {
    const load = async (): Promise<void> => {
      try {
        this.#zone = JSON.parse(await readFile(path, 'utf8')) as ZoneFile;
      } catch {}
    };
    await load();
    try {
      this.#watcher = watch(dirname(path), () => void load());
    } catch {}
    this.#poll = setInterval(() => void load(), 1000);
  }

  async listen(host: string, port: number): Promise<void> {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => {
      const out = this.answer(msg, true);
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => resolve());
    });
    this.#udp = udp;
    // No Nagle, as CoreDNS (Go) has none: two answers to pipelined queries written back to back
    // would otherwise wait for the asker's delayed ACK (~40 ms) between them.
    const tcp = net.createServer({ noDelay: true }, (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) break;
          const out = this.answer(buf.subarray(2, 2 + len), false);
          buf = buf.subarray(2 + len);
          if (out) {
            const head = Buffer.alloc(2);
            head.writeUInt16BE(out.length);
            s.write(Buffer.concat([head, out]));
          }
        }
      });
      s.on('error', () => {});
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.#tcp = tcp;
  }

  /** One response for one query message; undefined for garbage (dropped). */
  answer(msg: Buffer, udp: boolean): Buffer | undefined {
    let q: packet.Packet;
    try {
      q = packet.decode(msg);
    } catch {
      return undefined;
    }
    const question = q.questions?.[0];
    if (!question || q.type !== 'query') return undefined;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const res = this.#resolve(name, question.type);
    this.queries.push({ name, type: question.type, rcode: res.rcode });
    if (this.queries.length > 10_000) this.queries.splice(0, 1000);
    const reply: packet.Packet = {
      type: 'response',
      id: q.id,
      // dns-packet takes the rcode from the low bits of flags.
      flags:
        (res.authoritative ? packet.AUTHORITATIVE_ANSWER : 0) |
        packet.RECURSION_AVAILABLE |
        ((q.flags ?? 0) & packet.RECURSION_DESIRED) |
        (RCODES[res.rcode] ?? 2),
      questions: [question],
      answers: res.answers,
      authorities: res.authorities,
      additionals: res.additionals,
    } as packet.Packet;
    let out = packet.encode(reply);
    const edns = q.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = edns?.udpPayloadSize ?? UDP_LIMIT_BYTES;
    if (udp && out.length > limit) {
      out = packet.encode({
        ...reply,
        flags: (reply.flags ?? 0) | packet.TRUNCATED_RESPONSE,
        answers: [],
        authorities: [],
        additionals: [],
      });
    }
    return out;
  }

  #resolve(
    name: string,
    type: string,
  ): {
    rcode: string;
    authoritative: boolean;
    answers: packet.Answer[];
    authorities: packet.Answer[];
    additionals: packet.Answer[];
  } {
    const z = this.#zone;
    const zone = z.zones.filter((x) => name === x || name.endsWith(`.${x}`)).sort((a, b) => b.length - a.length)[0];
    const empty = { answers: [], authorities: [], additionals: [] };
    if (!zone) return { rcode: z.outside, authoritative: false, ...empty };
    const ttl = z.ttl;
    const nodata = {
      rcode: 'NOERROR',
      authoritative: true,
      answers: [],
      authorities: [soa(zone, ttl)],
      additionals: [],
    };
    let rr: RRSet | undefined = z.records[name];
    const podMatch = z.podNames ? /^(\d+)-(\d+)-(\d+)-(\d+)\.[^.]+\.pod\./.exec(name) : null;
    if (!rr && podMatch) rr = { A: [podMatch.slice(1, 5).join('.')] };
    if (!rr) {
      const parent = Object.keys(z.records).some((k) => k.endsWith(`.${name}`));
      return parent || name === zone ? nodata : { ...nodata, rcode: 'NXDOMAIN' };
    }
    const answers: packet.Answer[] = [];
    const additionals: packet.Answer[] = [];
    if (rr.CNAME && type !== 'CNAME') {
      answers.push({ name, type: 'CNAME', ttl, data: rr.CNAME } as packet.Answer);
      const target = z.records[rr.CNAME.toLowerCase()];
      if (type === 'A' || type === 'ANY')
        for (const a of target?.A ?? []) answers.push({ name: rr.CNAME, type: 'A', ttl, data: a } as packet.Answer);
      return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [] };
    }
    const want = (t: string): boolean => type === t || type === 'ANY';
    if (want('A')) for (const a of rr.A ?? []) answers.push({ name, type: 'A', ttl, data: a } as packet.Answer);
    if (want('CNAME') && rr.CNAME) answers.push({ name, type: 'CNAME', ttl, data: rr.CNAME } as packet.Answer);
    if (want('PTR')) for (const p of rr.PTR ?? []) answers.push({ name, type: 'PTR', ttl, data: p } as packet.Answer);
    if (want('TXT')) for (const t of rr.TXT ?? []) answers.push({ name, type: 'TXT', ttl, data: t } as packet.Answer);
    if (want('SRV')) {
      for (const s of rr.SRV ?? []) {
        answers.push({ name, type: 'SRV', ttl, data: s } as packet.Answer);
        for (const a of z.records[s.target]?.A ?? [])
          additionals.push({ name: s.target, type: 'A', ttl, data: a } as packet.Answer);
      }
    }
    if (answers.length === 0) return nodata;
    return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
  }

  close(): void {
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    this.#udp?.close();
    this.#tcp?.close();
    this.#udp = undefined;
    this.#tcp = undefined;
  }
}
