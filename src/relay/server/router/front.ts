// The router's listeners, one per route on all pod addresses, and the
// decision for each new connection:
//
//   no intercept on the port ─► the pods, raw (nothing parsed: the fast path)
//   a whole intercept        ─► a parked stream, raw (none in waitMs: the pods)
//   personal intercepts      ─► sniff the first bytes:
//        HTTP/1.x ─► http1.ts (per request)   h2c preface ─► h2.ts (per stream)
//        anything else, or silence for sniffMs ─► the pods, raw
import net from 'node:net';
import { listenAllFamilies } from '../listen.js';
import type { RelayLog } from '../log.js';
import { resetSocket } from '../splice.js';
import { H2Front } from './h2.js';
import { Http1Front } from './http1.js';
import { connectUpstream, joinLaptop, pipeSockets } from './pipe.js';
import { peerOf, type RouteRuntime } from './route.js';
import { type Speaks, sniff } from './sniff.js';

export class FrontListener {
  readonly route: RouteRuntime;
  readonly #server: net.Server;
  readonly #http1: Http1Front;
  readonly #h2: H2Front;
  readonly #sockets = new Set<net.Socket>();
  readonly #log: RelayLog;

  constructor(route: RouteRuntime) {
    this.route = route;
    this.#log = route.log;
    this.#http1 = new Http1Front(route);
    this.#h2 = new H2Front(route);
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#serverOnConnection(s));
    this.#server.on('error', (err) => this.#log.warn('router listener error', { error: err.message }));
  }

  /** Listens on route.port of every pod address, both families (listen.ts); resolves with the bound port. */
  async listen(): Promise<number> {
    await listenAllFamilies(this.#server, this.route.route.port);
    const port = (this.#server.address() as net.AddressInfo).port;
    this.route.port = port;
    return port;
  }

  /** Stops listening and resets every connection still open. */
  destroy(): void {
    this.#server.close();
    this.#http1.destroy();
    this.#h2.destroy();
    for (const s of this.#sockets) resetSocket(s);
  }

  #serverOnConnection(socket: net.Socket): void {
    socket.on('error', () => {});
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.route.counters.connections++;
    this.#dispatch(socket, undefined, undefined);
  }

  /** Where a connection goes: decided on arrival, and again once sniffed (the table may have changed meanwhile). */
  #dispatch(socket: net.Socket, head: Buffer | undefined, speaks: Speaks | undefined): void {
    const { table, port } = this.route;
    if (!table.onPort(port).length || speaks === 'other' || socket.readableEnded) this.#toPods(socket, head);
    else if (table.whole(port)) this.#toWhole(socket, head);
    else if (speaks === undefined || !head) this.#sniff(socket);
    else {
      socket.unshift(head);
      if (speaks === 'http1') this.#http1.accept(socket);
      else this.#h2.accept(socket);
    }
  }

  #toPods(socket: net.Socket, head?: Buffer): void {
    this.route.toPods();
    const up = connectUpstream(this.route.upstream.host, this.route.upstream.port);
    pipeSockets(socket, up, head);
  }

  #toWhole(socket: net.Socket, head?: Buffer): void {
    const reg = this.route.table.whole(this.route.port);
    if (!reg) {
      this.#toPods(socket, head);
      return;
    }
    // Nothing is read until a parked stream is there to take it.
    socket.pause();
    void this.route.openLaptop(reg, peerOf(socket)).then(({ stream }) => {
      if (socket.destroyed) {
        stream?.close();
        return;
      }
      if (!stream) this.#toPods(socket, head);
      else {
        this.route.toLaptop(reg);
        joinLaptop(stream, socket, this.#log, this.route.timing.tcpIdleMs, `intercept ${reg.id}`, head);
      }
    });
  }

  /** Reads until the first bytes say what the client speaks (or sniffMs of silence, or its FIN). */
  #sniff(socket: net.Socket): void {
    let head: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (speaks: Exclude<Speaks, 'more'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', socketOnData);
      socket.off('end', socketOnEnd);
      socket.pause();
      if (!socket.destroyed) this.#dispatch(socket, head, speaks);
    };
    const socketOnData = (chunk: Buffer): void => {
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const speaks = sniff(head);
      if (speaks !== 'more') done(speaks);
    };
    const socketOnEnd = (): void => done('other');
    const timer = setTimeout(() => done('other'), this.route.timing.sniffMs);
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.once('close', () => clearTimeout(timer));
  }
}
