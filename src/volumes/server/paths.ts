// SFTP paths → file system paths inside the served root, lexically: the
// session's "/" (and its working directory) is ROOT, `.` and `..` are folded
// before the kernel sees the path, and a `..` above "/" is refused. Symlinks
// are not resolved here (READLINK returns them verbatim; sshfs follows them).

/** The path made absolute against "/" and normalised; undefined if `..` climbs above "/". */
export function normalizeSftpPath(path: string): string | undefined {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/**
 * The file system path of an SFTP byte-string path under root (a UTF-8 string
 * without trailing slash, or "/"); undefined if it would escape root.
 */
export function resolveInRoot(root: string, path: string): Buffer | undefined {
  const normal = normalizeSftpPath(path);
  if (normal === undefined) return undefined;
  if (normal === '/') return Buffer.from(root, 'utf8');
  const base = root.endsWith('/') ? root.slice(0, -1) : root;
  return Buffer.concat([Buffer.from(base, 'utf8'), Buffer.from(normal, 'latin1')]);
}
