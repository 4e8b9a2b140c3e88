// Just enough of the Kubernetes protobuf encoding to read the review
// requests kubectl sends as protobuf (`kubectl auth can-i`): the "k8s\0"
// envelope (runtime.Unknown) and the SelfSubjectAccessReview /
// SelfSubjectRulesReview messages. Everything else is JSON.
import type { KObject } from './objects.js';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Fields = Map<number, Buffer[]>;

function varint(buf: Buffer, pos: number): [number, number] {
  let out = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    out += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [out, pos];
    shift += 7;
  }
}

/** Length-delimited fields by number (other wire types are skipped). */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = varint(buf, pos);
    pos = p1;
    const wire = key & 7;
    const num = Math.floor(key / 8);
    if (wire === 2) {
      const [len, p2] = varint(buf, pos);
      const v = buf.subarray(p2, p2 + len);
      pos = p2 + len;
      out.set(num, [...(out.get(num) ?? []), v]);
    } else if (wire === 0) pos = varint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

function str(f: Fields, n: number): string | undefined {
  return f.get(n)?.[0]?.toString('utf8');
}

export function isProtobuf(body: Buffer): boolean {
  return body.subarray(0, 4).equals(MAGIC);
}

/** Decodes a protobuf review request into its JSON shape. */
export function decodeReview(body: Buffer): KObject {
  const unknown = fields(body.subarray(4));
  const typeMeta = fields(unknown.get(1)?.[0] ?? Buffer.alloc(0));
  const kind = str(typeMeta, 2) ?? '';
  const raw = fields(unknown.get(2)?.[0] ?? Buffer.alloc(0));
  const spec = fields(raw.get(2)?.[0] ?? Buffer.alloc(0));
  const out: KObject = { apiVersion: str(typeMeta, 1), kind, metadata: {}, spec: {} };
  if (kind === 'SelfSubjectRulesReview') {
    out.spec = { namespace: str(spec, 1) };
    return out;
  }
  const ra = spec.get(1)?.[0];
  if (ra) {
    const f = fields(ra);
    out.spec.resourceAttributes = {
      namespace: str(f, 1),
      verb: str(f, 2),
      group: str(f, 3),
      version: str(f, 4),
      resource: str(f, 5),
      subresource: str(f, 6),
      name: str(f, 7),
    };
  }
  const nra = spec.get(2)?.[0];
  if (nra) {
    const f = fields(nra);
    out.spec.nonResourceAttributes = { path: str(f, 1), verb: str(f, 2) };
  }
  return out;
}
