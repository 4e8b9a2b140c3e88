// Every query kvpn's DNS server answered, for the DNS view: name, type,
// answer, rcode, who answered, how long it took. Addresses in answers teach
// the name book (so connections show names); a name that does not exist but
// is a typed character or two from a Service is marked with that Service.
import { type DnsQueryEvent, likelyMeant, rcodeName, typeName, viewResponse, type ZoneSnapshot } from '../dns/index.js';
import type { NameBook } from './name-book.js';
import { Ring } from './ring.js';

export interface DnsEntry {
  id: number;
  at: number;
  name: string;
  type: string;
  transport: string;
  /** Who answered: 'local' (the zone here), 'cluster', 'upstream', 'probe', 'chase'. */
  how: string;
  /** NOERROR, NXDOMAIN…, or 'dropped'. */
  rcode: string;
  answers: string[];
  latencyMs: number;
  /** For an NXDOMAIN: the Service (`name.namespace`) this was probably meant to be. */
  didYouMean: string | null;
}

export interface DnsQuery {
  text?: string | undefined;
  rcode?: string | undefined;
  limit?: number | undefined;
}

export interface DnsPage {
  total: number;
  dropped: number;
  matched: number;
  entries: DnsEntry[];
}

export interface DnsLogOptions {
  names: NameBook;
  /** The zone now (for typo hints); undefined with DNS off. */
  zone?: (() => ZoneSnapshot | undefined) | undefined;
  /** Where a short name is searched first (the session's namespace). */
  namespace: string;
  capacity?: number;
}

export const DNS_LOG_CAPACITY = 5000;
const MAX_LISTED = 2000;
const MAX_ANSWERS_KEPT = 16;

export class DnsLog {
  version = 0;
  readonly #ring: Ring<DnsEntry>;
  readonly #names: NameBook;
  readonly #zone: DnsLogOptions['zone'];
  readonly #namespace: string;
  #nextId = 1;

  constructor(options: DnsLogOptions) {
    this.#ring = new Ring(options.capacity ?? DNS_LOG_CAPACITY);
    this.#names = options.names;
    this.#zone = options.zone;
    this.#namespace = options.namespace;
  }

  /** The DNS server's observer. */
  readonly record = (event: DnsQueryEvent): void => {
    const response = event.response ? viewResponse(event.response) : undefined;
    if (response?.addresses.length) this.#names.learn(event.name, response.addresses);
    const rcode = event.response ? (response ? rcodeName(response.rcode) : 'MALFORMED') : 'dropped';
    let didYouMean: string | null = null;
    if (rcode === 'NXDOMAIN') {
      const zone = this.#zone?.();
      didYouMean = (zone && likelyMeant(zone, event.name, this.#namespace)) || null;
    }
    this.#ring.push({
      id: this.#nextId++,
      at: event.at,
      name: event.name,
      type: typeName(event.type),
      transport: event.transport,
      how: event.how,
      rcode,
      answers: (response?.answers ?? []).slice(0, MAX_ANSWERS_KEPT),
      latencyMs: Math.round(event.latencyMs * 100) / 100,
      didYouMean,
    });
    this.version++;
  };

  /** Queries ever recorded. */
  get total(): number {
    return this.#ring.total;
  }

  query(q: DnsQuery = {}): DnsPage {
    const limit = Math.min(MAX_LISTED, Math.max(1, Math.floor(q.limit ?? 500)));
    const text = q.text?.trim().toLowerCase() || undefined;
    const entries: DnsEntry[] = [];
    let matched = 0;
    for (const entry of this.#ring.newestFirst()) {
      if (q.rcode && entry.rcode !== q.rcode) continue;
      if (text && !`${entry.name} ${entry.type} ${entry.answers.join(' ')} ${entry.rcode}`.toLowerCase().includes(text))
        continue;
      matched++;
      if (entries.length < limit) entries.push(entry);
    }
    return { total: this.#ring.total, dropped: this.#ring.dropped, matched, entries };
  }
}
