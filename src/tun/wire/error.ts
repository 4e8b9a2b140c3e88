// Why a packet view or repr refused bytes. Parsing never throws: callers
// get one of these codes, drop the packet and count it under that name.
export const WireError = {
  /** Shorter than its headers or its length fields say. */
  Truncated: 1,
  /** A field holds a value the protocol forbids (bad version, bad offset, illegal flags). */
  Malformed: 2,
  /** The checksum does not match. */
  Checksum: 3,
  /** Legal but not handled here (fragments, unknown types). */
  Unsupported: 4,
} as const;
export type WireError = (typeof WireError)[keyof typeof WireError];

/** 0 for success, else the error. */
export type WireResult = 0 | WireError;
