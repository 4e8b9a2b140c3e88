// What a connection to a port with personal intercepts speaks, from its
// first bytes. Pure. Only HTTP can be routed per request; anything else
// (TLS, postgres, a server-speaks-first protocol that sends nothing) goes to
// the pods untouched.
//
//   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" → h2 (cleartext, prior knowledge)
//   "METHOD SP"                        → http1 (request line of HTTP/1.x)
//   a prefix of either                 → more (read on)

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The longest method we wait for ("PROPPATCH", "UNSUBSCRIBE" and friends fit). */
const MAX_METHOD_BYTES = 20;

export type Speaks = 'h2' | 'http1' | 'other' | 'more';

export function sniff(head: Buffer): Speaks {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (n > 0 && head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
    return head.length >= H2_PREFACE.length ? 'h2' : 'more';
  }
  for (let i = 0; i < head.length && i <= MAX_METHOD_BYTES; i++) {
    const c = head[i] as number;
    if (c === 0x20) return i > 0 ? 'http1' : 'other';
    // Methods are tokens; in practice upper-case letters (and '-' in a few extensions).
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d)) return 'other';
  }
  return head.length > MAX_METHOD_BYTES ? 'other' : 'more';
}
