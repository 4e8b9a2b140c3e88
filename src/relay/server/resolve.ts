// GET /v1/resolve?name=NAME[&family=4|6]: the pod's resolver (getaddrinfo,
// so /etc/resolv.conf with the cluster's search path) answers for the
// client, e.g. for --also-proxy host names.
//   200 {"name":"db","addresses":[{"address":"10.96.3.4","family":4}]}
//   502/504 + proxy-status: kvpn-relay; error=dns_error; rcode="NXDOMAIN"
import { lookup } from 'node:dns/promises';
import type http2 from 'node:http2';
import { classifySocketError, formatProxyStatus, HEADER_PROXY_STATUS, type ResolveAnswer } from '../protocol.js';

const MAX_NAME_LENGTH = 253;

export async function relayResolve(stream: http2.ServerHttp2Stream, query: URLSearchParams): Promise<void> {
  const name = query.get('name') ?? '';
  const family = Number(query.get('family') ?? 0);
  if (!name || name.length > MAX_NAME_LENGTH || ![0, 4, 6].includes(family)) {
    stream.respond(
      {
        ':status': 400,
        [HEADER_PROXY_STATUS]: formatProxyStatus({ error: 'http_request_error', details: 'bad name or family' }),
      },
      { endStream: true },
    );
    return;
  }
  try {
    const found = await lookup(name, { all: true, family: family as 0 | 4 | 6 });
    const answer: ResolveAnswer = {
      name,
      addresses: found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
    };
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify(answer));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const outcome = classifySocketError(e.code, e.message);
    if (stream.destroyed) return;
    stream.respond(
      { ':status': outcome.status, [HEADER_PROXY_STATUS]: formatProxyStatus(outcome) },
      { endStream: true },
    );
  }
}
