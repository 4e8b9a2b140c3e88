// Who intercepts what: the router's registrations, keyed by intercept id and
// by port, with the conflict rules and each intercept's counters. No I/O:
// the router (router.ts) owns the streams; a registration only knows what to
// dispose of when it goes.
//
//   whole:    the port's only intercept; every connection goes to its laptop
//   personal: several per port, distinct filters; the first registered that
//             matches a request takes it
import {
  type CompiledFilter,
  canonicalFilter,
  compileFilter,
  type InterceptSpec,
  sameFilter,
} from '../../intercept-spec.js';
import type { LaptopStreams } from './laptop-streams.js';
import { RequestCapture, type RequestHead, type RequestSink } from './request-record.js';

/** Registrations per router port; more are refused with 503. */
export const MAX_REGISTRATIONS_PER_PORT = 64;

/** Cumulative, per intercept; the registration stream reports them as one JSON line when they change. */
export interface InterceptCounters {
  /** Connections (whole) or requests/streams (personal) sent to the laptop. */
  toLaptop: number;
  /** Matched, but sent to the pods (failedOpen + refused + a laptop session that could not start). */
  toPods: number;
  /** Matched, waited routerWaitMs (or the intercept went away meanwhile) with nothing parked: sent to the pods. */
  failedOpen: number;
  /** Matched while MAX_WAITING per intercept already waited: sent to the pods at once. */
  refused: number;
  /** Request records not sent: the registration stream was full (registration-stream.ts). */
  requestsDropped: number;
}

/** Why a registration ended; logged. */
export type RemovalReason = 'closed' | 'ping timeout' | 'replaced' | 'router closing';

interface Disposable {
  destroy(): void;
}

export class Registration {
  readonly counters: InterceptCounters = { toLaptop: 0, toPods: 0, failedOpen: 0, refused: 0, requestsDropped: 0 };
  /** Where this intercept's request records go (its registration stream); none: nothing is captured. */
  requests: RequestSink | undefined;
  readonly since = new Date().toISOString();
  readonly filter: CompiledFilter | undefined;
  readonly filterText: string;
  #removed = false;
  readonly #resources = new Map<string, Disposable>();

  constructor(
    readonly spec: InterceptSpec,
    /** The laptop's parked streams for this intercept. */
    readonly laptop: LaptopStreams,
  ) {
    this.filter = spec.filter ? compileFilter(spec.filter) : undefined;
    this.filterText = canonicalFilter(spec.filter);
  }

  get id(): string {
    return this.spec.id;
  }
  get whole(): boolean {
    return this.filter === undefined;
  }
  get removed(): boolean {
    return this.#removed;
  }

  /** A request this intercept's filter matched, to be reported to its laptop when it is finished. */
  capture(head: RequestHead, at: number): RequestCapture | undefined {
    return this.requests && !this.#removed ? new RequestCapture(this.requests, this.filterText, head, at) : undefined;
  }

  /** A per-intercept object (an HTTP agent, an HTTP/2 session) made on first use and destroyed with the registration. */
  resource<T extends Disposable>(key: string, make: () => T): T {
    let r = this.#resources.get(key);
    if (!r) {
      r = make();
      if (this.#removed) r.destroy();
      else this.#resources.set(key, r);
    }
    return r as T;
  }

  dropResource(key: string, r: Disposable): void {
    if (this.#resources.get(key) === r) this.#resources.delete(key);
  }

  /** Once: parked streams are reset, waiters go to the pods, resources are destroyed. */
  dispose(): void {
    if (this.#removed) return;
    this.#removed = true;
    this.laptop.close(this.id);
    for (const r of this.#resources.values()) r.destroy();
    this.#resources.clear();
  }
}

export type Admission =
  | { ok: true; replaces: Registration | undefined }
  | { ok: false; status: number; details: string };

export class InterceptTable {
  readonly #byId = new Map<string, Registration>();
  /** Insertion order = precedence among personal intercepts. */
  readonly #byPort = new Map<number, Registration[]>();

  /** A port the router now listens on (bound, so known only after listen: 0 in tests). */
  openPort(port: number): void {
    if (!this.#byPort.has(port)) this.#byPort.set(port, []);
  }

  hasPort(port: number): boolean {
    return this.#byPort.has(port);
  }

  get(id: string): Registration | undefined {
    return this.#byId.get(id);
  }

  onPort(port: number): readonly Registration[] {
    return this.#byPort.get(port) ?? [];
  }

  /** The port's whole intercept, if it has one (then it has no other). */
  whole(port: number): Registration | undefined {
    const regs = this.onPort(port);
    return regs.length === 1 && regs[0]?.whole ? regs[0] : undefined;
  }

  /** The first personal intercept whose filter matches the request; undefined: the pods. */
  match(
    port: number,
    path: string,
    header: (name: string) => string | readonly string[] | undefined,
  ): Registration | undefined {
    for (const r of this.onPort(port)) if (r.filter?.matches(path, header)) return r;
    return undefined;
  }

  /** Whether `spec` may be registered; the same id again replaces the old registration (a reconnected laptop). */
  admit(spec: InterceptSpec): Admission {
    const regs = this.#byPort.get(spec.port);
    if (!regs) return { ok: false, status: 404, details: `the router does not serve port ${spec.port}` };
    const others = regs.filter((r) => r.id !== spec.id);
    const holder = (r: Registration): string => `${r.spec.owner} (id ${r.id})`;
    const whole = others.find((r) => r.whole);
    if (whole) return { ok: false, status: 409, details: `port ${spec.port} is intercepted whole by ${holder(whole)}` };
    if (!spec.filter && others.length) {
      const first = others[0] as Registration;
      return {
        ok: false,
        status: 409,
        details: `port ${spec.port} has personal intercepts, e.g. ${first.filterText} by ${holder(first)}`,
      };
    }
    const same = others.find((r) => sameFilter(r.spec.filter, spec.filter));
    if (same)
      return {
        ok: false,
        status: 409,
        details: `port ${spec.port} is intercepted for ${same.filterText} by ${holder(same)}`,
      };
    if (others.length >= MAX_REGISTRATIONS_PER_PORT)
      return { ok: false, status: 503, details: `port ${spec.port} has ${others.length} intercepts` };
    return { ok: true, replaces: this.#byId.get(spec.id) };
  }

  /** Adds an admitted registration (its predecessor with the same id must be removed first). */
  add(reg: Registration): void {
    this.#byId.set(reg.id, reg);
    this.#byPort.get(reg.spec.port)?.push(reg);
  }

  /** Removes `reg` if it is still the registration of its id; false when it was already replaced or removed. */
  remove(reg: Registration): boolean {
    if (this.#byId.get(reg.id) !== reg) return false;
    this.#byId.delete(reg.id);
    const regs = this.#byPort.get(reg.spec.port);
    const i = regs?.indexOf(reg) ?? -1;
    if (regs && i !== -1) regs.splice(i, 1);
    return true;
  }

  all(): Registration[] {
    return [...this.#byId.values()];
  }
}
