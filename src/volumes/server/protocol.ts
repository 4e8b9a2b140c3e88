// SFTP version 3 (draft-ietf-secsh-filexfer-02) numbers and the shapes the
// codec turns packets into. Strings that name files are "byte strings":
// decoded as latin1, so every byte survives the round trip to the file
// system (fs-path.ts turns them back into Buffers).

export const SFTP_VERSION = 3;

/** Packet types, draft-02 §3. */
export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Status codes, draft-02 §7. */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;
export type StatusCode = (typeof FX)[keyof typeof FX];

/** OPEN pflags, draft-02 §6.3. */
export const PFLAG = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 } as const;

/** ATTRS flags, draft-02 §5. */
export const ATTR = { SIZE: 0x01, UIDGID: 0x02, PERMISSIONS: 0x04, ACMODTIME: 0x08, EXTENDED: 0x80000000 } as const;

/** The OpenSSH extensions sshfs looks for, with the versions OpenSSH announces. */
export const EXTENSIONS: readonly (readonly [string, string])[] = [
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['hardlink@openssh.com', '1'],
  ['fsync@openssh.com', '1'],
];

/** File attributes; a field is present when its ATTR flag is (times in whole seconds). */
export interface Attrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
}

/** One entry of a NAME reply. */
export interface NameEntry {
  name: string;
  longname: string;
  attrs: Attrs;
}

/** statvfs@openssh.com reply fields, in wire order (all uint64). */
export interface StatVfs {
  bsize: bigint;
  frsize: bigint;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  favail: bigint;
  fsid: bigint;
  flag: bigint;
  namemax: bigint;
}

/** A parsed client packet. `bad` is a packet whose id could be read but not the rest. */
export type Request =
  | { type: 'init'; version: number }
  | { type: 'open'; id: number; path: string; pflags: number; attrs: Attrs }
  | { type: 'close' | 'fstat' | 'readdir' | 'fsync'; id: number; handle: string }
  | { type: 'read'; id: number; handle: string; offset: number; length: number }
  | { type: 'write'; id: number; handle: string; offset: number; data: Buffer }
  | {
      type: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink' | 'statvfs';
      id: number;
      path: string;
    }
  | { type: 'setstat' | 'mkdir'; id: number; path: string; attrs: Attrs }
  | { type: 'fsetstat'; id: number; handle: string; attrs: Attrs }
  | { type: 'rename' | 'posix-rename' | 'hardlink'; id: number; oldPath: string; newPath: string }
  /** OpenSSH order: the link's target first, then the path of the new link. */
  | { type: 'symlink'; id: number; target: string; linkPath: string }
  | { type: 'unsupported'; id: number; what: string }
  | { type: 'bad'; id: number };

export type RequestType = Request['type'];
