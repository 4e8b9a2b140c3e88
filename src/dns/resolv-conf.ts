// resolv.conf(5) as text: what the machine's resolver is configured with
// (to forward non-cluster names to the same servers), and the file kvpn
// writes in resolv.conf mode.
import { isIP } from 'node:net';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
  /** Lines kept as they are (sortlist, unknown keywords). */
  other: string[];
}

/** glibc reads at most this many nameserver lines (MAXNS). */
export const MAX_NAMESERVERS = 3;

/** First line of every file kvpn writes: how a leftover is recognised. */
export const KVPN_HEADER = '# Written by kvpn.';

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [], other: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const [keyword, ...args] = line.split(/\s+/);
    switch (keyword) {
      case 'nameserver':
        if (args[0] && isIP(args[0].split('%')[0] ?? '')) out.nameservers.push(args[0]);
        break;
      // The last of "search" and "domain" wins (glibc).
      case 'search':
        out.search = args;
        break;
      case 'domain':
        out.search = args.slice(0, 1);
        break;
      case 'options':
        out.options.push(...args);
        break;
      default:
        out.other.push(line);
    }
  }
  return out;
}

export interface KvpnResolvConfInput {
  /** kvpn's DNS server (port 53: resolv.conf cannot say otherwise). */
  server: string;
  /** Namespace search domains, first (e.g. shop.svc.cluster.local svc.cluster.local cluster.local). */
  searchDomains: string[];
  /** Where the original is kept, for the comment. */
  backupPath: string;
}

/**
 * The file kvpn puts in place: our server first, then (as a fallback if
 * the daemon dies) up to two of the original servers; the namespace search
 * domains before the original search list; the original options, less
 * `rotate` (which would send cluster names to the other servers).
 */
export function renderKvpnResolvConf(original: ResolvConf, input: KvpnResolvConfInput): string {
  const servers = [input.server, ...original.nameservers.filter((s) => s !== input.server)].slice(0, MAX_NAMESERVERS);
  const search = [...input.searchDomains, ...original.search.filter((d) => !input.searchDomains.includes(d))];
  const options = original.options.filter((o) => o !== 'rotate');
  const lines = [
    `${KVPN_HEADER} Cluster names are answered by kvpn's DNS server, other names are passed on to the original servers.`,
    `# The original file is kept in ${input.backupPath}; \`kvpn down\` puts it back.`,
    ...servers.map((s) => `nameserver ${s}`),
  ];
  if (search.length) lines.push(`search ${search.join(' ')}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  lines.push(...original.other);
  return `${lines.join('\n')}\n`;
}

/** The search domains a pod in `namespace` gets: <ns>.svc.<zone> svc.<zone> <zone>. */
export function namespaceSearchDomains(namespace: string, clusterDomain: string): string[] {
  return [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
}
