// The `ls -l` line of a READDIR entry (draft-02 §7 suggests this format;
// OpenSSH's ls_file is the de facto one): mode, links, owner, group, size,
// date, name. Owners are numeric: the container has no passwd for the pod's users.

export interface LongnameStats {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** File type bits (S_IFDIR…) and their ls letter; regular files are '-'. */
const TYPE_LETTERS: readonly (readonly [number, string])[] = [
  [0o040000, 'd'],
  [0o120000, 'l'],
  [0o020000, 'c'],
  [0o060000, 'b'],
  [0o010000, 'p'],
  [0o140000, 's'],
];
const HALF_YEAR_MS = (365.2425 / 2) * 24 * 3600 * 1000;

/** `drwxr-xr-x`, with s/S and t/T for the set-id and sticky bits. */
export function modeString(mode: number): string {
  const type = TYPE_LETTERS.find(([bits]) => (mode & 0o170000) === bits)?.[1] ?? '-';
  const rwx = (bits: number, special: boolean, letter: string): string =>
    (bits & 4 ? 'r' : '-') +
    (bits & 2 ? 'w' : '-') +
    (special ? (bits & 1 ? letter : letter.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    type +
    rwx(mode >> 6, (mode & 0o4000) !== 0, 's') +
    rwx(mode >> 3, (mode & 0o2000) !== 0, 's') +
    rwx(mode, (mode & 0o1000) !== 0, 't')
  );
}

/** "Jan  2 15:04" within half a year of now, else "Jan  2  2006" (UTC). */
function dateString(mtimeMs: number, nowMs: number): string {
  const d = new Date(mtimeMs);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const recent = Math.abs(nowMs - mtimeMs) < HALF_YEAR_MS;
  const tail = recent
    ? `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`
    : ` ${d.getUTCFullYear()}`;
  return `${MONTHS[d.getUTCMonth()]} ${day} ${tail}`;
}

export function longname(name: string, st: LongnameStats, nowMs: number): string {
  const owner = String(st.uid).padEnd(8).slice(0, 8);
  const group = String(st.gid).padEnd(8).slice(0, 8);
  return `${modeString(st.mode)} ${String(st.nlink).padStart(3)} ${owner} ${group} ${String(st.size).padStart(8)} ${dateString(st.mtimeMs, nowMs)} ${name}`;
}
