// The stack's dialer with every dial written to the flow log: the tunnel
// does the work, this only watches. A TCP connection is returned as the
// tunnel made it (no wrapper stream in the data path); a UDP flow gets a
// thin wrapper that counts datagrams' bytes.
import type { Duplex } from 'node:stream';
import type { DatagramFlow, Dialer, DialRequest } from '../tun/stack/index.js';
import type { ByteSource, Flow, FlowLog } from './flow-log.js';

export interface RecordingDialerOptions {
  /** Destinations not shown as connections (kvpn's own DNS address: the DNS view has those). */
  skip?: (address: string) => boolean;
}

export class RecordingDialer implements Dialer {
  readonly #inner: Dialer;
  readonly #log: FlowLog;
  readonly #skip: (address: string) => boolean;

  constructor(inner: Dialer, log: FlowLog, options: RecordingDialerOptions = {}) {
    this.#inner = inner;
    this.#log = log;
    this.#skip = options.skip ?? (() => false);
  }

  async dialTcp(request: DialRequest): Promise<Duplex> {
    const flow = this.#begin('tcp', request);
    if (!flow) return this.#inner.dialTcp(request);
    let connection: Duplex;
    try {
      connection = await this.#inner.dialTcp(request);
    } catch (err) {
      this.#log.failed(flow, err, request.signal.aborted);
      throw err;
    }
    this.#log.connected(flow, connection as ByteSource);
    // A socket says whether it closed on an error even when its destroy() dropped the error itself.
    connection.once('close', (hadError?: boolean) =>
      this.#log.ended(flow, connection.errored ?? (hadError === true ? new Error('connection reset') : null)),
    );
    return connection;
  }

  async openUdp(request: DialRequest): Promise<DatagramFlow> {
    const flow = this.#begin('udp', request);
    if (!flow) return this.#inner.openUdp(request);
    let inner: DatagramFlow;
    try {
      inner = await this.#inner.openUdp(request);
    } catch (err) {
      this.#log.failed(flow, err, request.signal.aborted);
      throw err;
    }
    const counted = new CountedDatagramFlow(inner, flow, this.#log);
    this.#log.connected(flow, counted);
    return counted;
  }

  #begin(proto: 'tcp' | 'udp', request: DialRequest): Flow | undefined {
    const { destination, source } = request;
    if (this.#skip(destination.address)) return undefined;
    return this.#log.begin(proto, `${source.address}:${source.port}`, destination.address, destination.port);
  }
}

class CountedDatagramFlow implements DatagramFlow, ByteSource {
  bytesSent = 0;
  bytesReceived = 0;
  readonly #inner: DatagramFlow;
  readonly #flow: Flow;
  readonly #log: FlowLog;

  constructor(inner: DatagramFlow, flow: Flow, log: FlowLog) {
    this.#inner = inner;
    this.#flow = flow;
    this.#log = log;
  }

  send(datagram: Uint8Array): boolean {
    this.bytesSent += datagram.length;
    return this.#inner.send(datagram);
  }

  onDatagram(handler: (datagram: Uint8Array) => void): void {
    this.#inner.onDatagram((datagram) => {
      this.bytesReceived += datagram.length;
      handler(datagram);
    });
  }

  /** Some flows keep one close handler only: ours rides inside the stack's. */
  onClose(handler: (err?: Error) => void): void {
    this.#inner.onClose((err) => {
      this.#log.ended(this.#flow, err);
      handler(err);
    });
  }

  close(): void {
    this.#inner.close();
    this.#log.ended(this.#flow);
  }
}
