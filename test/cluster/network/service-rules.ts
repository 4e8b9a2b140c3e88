// kube-proxy in nftables form, rendered as one `nft -f` transaction per
// node: ClusterIP:port → one of the ready endpoints (numgen random vmap, one
// chain per endpoint, as kube-proxy's nftables mode does), hairpin traffic
// masqueraded, and anything else sent to the service CIDR rejected (no
// endpoints → ICMP port unreachable → ECONNREFUSED, like kube-proxy).

export interface ServicePortRule {
  /** "default/echo:http", used in comments only. */
  label: string;
  clusterIp: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  endpoints: { ip: string; port: number }[];
}

export const SERVICE_TABLE = 'kvpn-kube-proxy';
const MASQ_MARK = '0x4000';

function comment(s: string): string {
  return `comment "${s.replace(/["\\]/g, '')}"`;
}

export function renderServiceRules(rules: ServicePortRule[], serviceCidr: string): string {
  const out: string[] = [];
  out.push(`add table ip ${SERVICE_TABLE}`);
  out.push(`delete table ip ${SERVICE_TABLE}`);
  out.push(`table ip ${SERVICE_TABLE} {`);
  out.push('  chain prerouting {');
  out.push('    type nat hook prerouting priority dstnat; policy accept;');
  out.push('    jump services');
  out.push('  }');
  out.push('  chain output {');
  out.push('    type nat hook output priority -100; policy accept;');
  out.push('    jump services');
  out.push('  }');
  out.push('  chain postrouting {');
  out.push('    type nat hook postrouting priority srcnat; policy accept;');
  out.push(`    meta mark & ${MASQ_MARK} == ${MASQ_MARK} masquerade`);
  out.push('  }');
  // After DNAT (priority dstnat + 10): whatever still targets the service
  // CIDR matched no Service port with endpoints. (A forward-hook reject
  // would never fire: br_netfilter treats routed-back-to-the-bridge packets
  // as bridged.)
  out.push('  chain reject-prerouting {');
  out.push('    type filter hook prerouting priority -90; policy accept;');
  out.push(`    ip daddr ${serviceCidr} reject with icmp type port-unreachable`);
  out.push('  }');
  out.push('  chain reject-output {');
  out.push('    type filter hook output priority filter; policy accept;');
  out.push(`    ip daddr ${serviceCidr} reject with icmp type port-unreachable`);
  out.push('  }');
  const chains: string[] = [];
  out.push('  chain services {');
  rules.forEach((r, i) => {
    if (r.endpoints.length === 0) return;
    const proto = r.protocol.toLowerCase();
    out.push(`    ip daddr ${r.clusterIp} ${proto} dport ${r.port} jump svc-${i} ${comment(r.label)}`);
    chains.push(`  chain svc-${i} {`);
    if (r.endpoints.length === 1) chains.push(`    jump svc-${i}-ep-0`);
    else {
      const map = r.endpoints.map((_, j) => `${j} : jump svc-${i}-ep-${j}`).join(', ');
      chains.push(`    numgen random mod ${r.endpoints.length} vmap { ${map} }`);
    }
    chains.push('  }');
    r.endpoints.forEach((ep, j) => {
      chains.push(`  chain svc-${i}-ep-${j} {`);
      chains.push(`    ip saddr ${ep.ip} meta mark set meta mark | ${MASQ_MARK}`);
      chains.push(`    meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
      chains.push('  }');
    });
  });
  out.push('  }');
  out.push(...chains);
  out.push('}');
  return `${out.join('\n')}\n`;
}
