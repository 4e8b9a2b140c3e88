// Kubernetes resource quantities ("500m", "1.5Gi", "2e3") as exact
// fractions, and the two roundings the Downward API uses: Value() and
// MilliValue() both round up to the next integer (apimachinery
// resource.Quantity).
import { KvpnError } from '../errors.js';

export interface Quantity {
  /** Exact value: numerator / denominator. */
  num: bigint;
  den: bigint;
}

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

export class InvalidQuantityError extends KvpnError {
  constructor(text: string) {
    super('KVPN_ERR_WORKLOAD_QUANTITY', 'cluster', `"${text}" is not a resource quantity`, {
      remedy: 'The API server accepts only valid quantities; check the object was read from a Kubernetes API.',
    });
  }
}

const PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

export function parseQuantity(text: string | number): Quantity {
  const s = String(text).trim();
  const m = PATTERN.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new InvalidQuantityError(s);
  const sign = m[1] === '-' ? -1n : 1n;
  const frac = m[3] ?? '';
  let num = sign * BigInt(`${m[2] || '0'}${frac}`);
  let den = 10n ** BigInt(frac.length);
  if (m[4]) {
    const exp = Number(m[4].slice(1));
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  } else if (m[5] && m[5] in BINARY) {
    num *= BINARY[m[5]] as bigint;
  } else {
    const exp = DECIMAL_EXP[m[5] ?? ''] as number;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  return { num, den };
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n === b > 0n ? q + 1n : q;
}

/** Quantity.Value(): the value rounded up to an integer. */
export function integerValue(q: Quantity): bigint {
  return ceilDiv(q.num, q.den);
}

/** Quantity.MilliValue(): the value in thousandths, rounded up. */
export function milliValueOf(q: Quantity): bigint {
  return ceilDiv(q.num * 1000n, q.den);
}

export function isZero(q: Quantity): boolean {
  return q.num === 0n;
}
