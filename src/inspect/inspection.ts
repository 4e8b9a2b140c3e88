// One session's inspection: the logs the page shows (flows, DNS queries,
// intercepted requests), the hooks that fill them, and the page's server.
import type { AddressOwner, DnsQueryEvent, ZoneSnapshot } from '../dns/index.js';
import { ownerOf } from '../dns/index.js';
import type { Dialer } from '../tun/stack/index.js';
import { DnsLog } from './dns-log.js';
import { FlowLog } from './flow-log.js';
import { NameBook } from './name-book.js';
import { RecordingDialer } from './recording-dialer.js';
import { type InterceptRef, RequestLog, type RoutedRequest } from './request-log.js';
import { InspectServer, type InspectSources } from './server.js';

export interface InspectionOptions {
  /** The session's namespace (where a short name is searched). */
  namespace: string;
  /** The cluster zone now; undefined with DNS off. */
  zone: () => ZoneSnapshot | undefined;
  flowCapacity?: number;
}

export class Inspection {
  readonly names = new NameBook();
  readonly flows: FlowLog;
  readonly dns: DnsLog;
  readonly requests = new RequestLog();
  #server: InspectServer | undefined;

  constructor(options: InspectionOptions) {
    const owner = (address: string): AddressOwner | undefined => {
      const zone = options.zone();
      return zone ? ownerOf(zone, address) : undefined;
    };
    this.flows = new FlowLog({
      names: this.names,
      ownerOf: owner,
      ...(options.flowCapacity ? { capacity: options.flowCapacity } : {}),
    });
    this.dns = new DnsLog({ names: this.names, zone: options.zone, namespace: options.namespace });
  }

  /** The DNS server's observer. */
  get dnsObserver(): (event: DnsQueryEvent) => void {
    return this.dns.record;
  }

  /** The intercepts' observer. */
  get requestObserver(): (intercept: InterceptRef, request: RoutedRequest) => void {
    return this.requests.record;
  }

  /** The stack's dialer, recording every dial except to `skip` addresses. */
  wrap(dialer: Dialer, skip: (address: string) => boolean): Dialer {
    return new RecordingDialer(dialer, this.flows, { skip });
  }

  async serve(options: {
    port?: number | undefined;
    status: () => unknown;
    environment?: InspectSources['environment'];
    onError?: (err: Error) => void;
  }): Promise<InspectServer> {
    this.#server = await InspectServer.listen({
      port: options.port,
      sources: {
        status: options.status,
        flows: this.flows,
        dns: this.dns,
        requests: this.requests,
        environment: options.environment,
      },
      onError: options.onError,
    });
    return this.#server;
  }

  get server(): InspectServer | undefined {
    return this.#server;
  }

  async close(): Promise<void> {
    await this.#server?.close();
  }
}
