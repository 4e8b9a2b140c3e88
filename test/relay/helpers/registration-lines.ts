// The laptop's reading of a registration stream in router tests: its ndjson
// lines split into request records and counters lines, as they arrive.
import { EventEmitter, once } from 'node:events';
import type http2 from 'node:http2';
import type { InterceptedRequest } from '../../../src/relay/intercept-spec.js';

export class RegistrationLines extends EventEmitter {
  readonly records: InterceptedRequest[] = [];
  readonly counters: Record<string, number>[] = [];
  #taken = 0;

  constructor(stream: http2.ClientHttp2Stream) {
    super();
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const json = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if ('request' in json) this.records.push(json.request);
        else this.counters.push(json);
        this.emit('line');
        nl = buffered.indexOf('\n');
      }
    });
  }

  /** The next record not yet taken, now or when it comes. */
  async record(): Promise<InterceptedRequest> {
    while (this.records.length <= this.#taken) await once(this, 'line');
    return this.records[this.#taken++] as InterceptedRequest;
  }

  /** The first counters line (already read or to come) for which `check` holds. */
  async countersWhere(check: (c: Record<string, number>) => boolean): Promise<Record<string, number>> {
    for (let i = 0; ; i++) {
      while (this.counters.length <= i) await once(this, 'line');
      const c = this.counters[i] as Record<string, number>;
      if (check(c)) return c;
    }
  }
}
