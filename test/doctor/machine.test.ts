// This machine's checks, each fed what its probes would report: a Node
// version, an addon that loads or not, /dev/net/tun as stat and open see
// it, the resolver as `--dns auto` would find it.
import t from 'tap';
import { SystemDnsError } from '../../src/dns/index.js';
import {
  checkDns,
  checkNode,
  checkTunAddon,
  checkTunDevice,
  type DnsProbe,
  hasNetAdmin,
  type TunDeviceProbe,
} from '../../src/doctor/machine.js';
import { TunUnavailableError } from '../../src/tun/device.js';

const errno = (code: string): Error => Object.assign(new Error(`${code}: failed`), { code });

t.test('Node.js: at least engines.node', async (t) => {
  t.match(checkNode('v20.19.0', '>=20.19'), { status: 'ok', title: 'Node.js ≥ 20.19', detail: 'v20.19.0' });
  t.match(checkNode('v22.1.0', '>=20.19'), { status: 'ok' });
  t.match(checkNode('v20.18.3', '>=20.19'), {
    status: 'fail',
    category: 'system',
    detail: 'v20.18.3 is older than kvpn supports (>=20.19)',
    fix: /Install Node.js 20.19 or newer/,
  });
  t.match(checkNode('v18.20.0', '>=20.19'), { status: 'fail' });
  t.match(checkNode('vX', '>=20.19'), { status: 'warn' });
});

t.test('TUN addon: loads, is missing, or the platform has none', async (t) => {
  t.match(await checkTunAddon('linux', async () => ({})), { status: 'ok' });
  const missing = await checkTunAddon('linux', async () => {
    throw new TunUnavailableError('the kvpn TUN addon is not built (build/Release/kvpn_tun.node is missing)', {
      remedy: 'Run `npm ci` in a checkout.',
    });
  });
  t.match(missing, {
    status: 'fail',
    code: 'KVPN_ERR_TUN_UNAVAILABLE',
    category: 'system',
    detail: 'the kvpn TUN addon is not built (build/Release/kvpn_tun.node is missing)',
    fix: 'Run `npm ci` in a checkout.',
  });
  t.match(await checkTunAddon('darwin', async () => ({})), { status: 'fail', detail: /not supported on darwin/ });
});

t.test('/dev/net/tun: present and openable as root, or sudo to get there', async (t) => {
  const opened: string[] = [];
  const probe = (over: Partial<TunDeviceProbe> = {}): TunDeviceProbe => ({
    isCharDevice: async () => true,
    openReadWrite: async (path) => {
      opened.push(path);
    },
    root: true,
    netAdmin: true,
    sudo: undefined,
    ...over,
  });
  t.match(await checkTunDevice(probe()), { status: 'ok', detail: '/dev/net/tun opens read/write as root' });
  t.same(opened, ['/dev/net/tun'], 'opened (and closed: the probe owns that), nothing created');

  t.match(await checkTunDevice(probe({ isCharDevice: async () => Promise.reject(errno('ENOENT')) })), {
    status: 'fail',
    detail: '/dev/net/tun is not available (ENOENT)',
    fix: /modprobe tun/,
  });
  t.match(await checkTunDevice(probe({ isCharDevice: async () => false })), {
    status: 'fail',
    detail: '/dev/net/tun is not a character device',
  });
  t.match(await checkTunDevice(probe({ openReadWrite: async () => Promise.reject(errno('EPERM')) })), {
    status: 'fail',
    detail: 'cannot open /dev/net/tun read/write as root (EPERM)',
  });
  t.match(await checkTunDevice(probe({ netAdmin: false })), { status: 'fail', detail: /no CAP_NET_ADMIN/ });

  opened.length = 0;
  t.match(await checkTunDevice(probe({ root: false, sudo: '/usr/bin/sudo' })), {
    status: 'ok',
    detail: '/dev/net/tun present; not root: kvpn up re-runs itself with /usr/bin/sudo',
  });
  t.same(opened, [], 'not root: not opened');
  t.match(await checkTunDevice(probe({ root: false })), {
    status: 'fail',
    category: 'system',
    detail: '/dev/net/tun present, but you are not root and sudo is not available',
    fix: /install and configure sudo/,
  });
});

t.test('CAP_NET_ADMIN from /proc/self/status', async (t) => {
  t.equal(hasNetAdmin('Name:\tnode\nCapEff:\t000001ffffffffff\n'), true);
  t.equal(hasNetAdmin('CapEff:\t00000000a80425fb\n'), false, "docker's default set");
  t.equal(hasNetAdmin('Name:\tnode\n'), undefined);
});

t.test('DNS: the mode --dns auto picks, and whether it can be applied', async (t) => {
  const files: Record<string, string> = { '/etc/resolv.conf': 'nameserver 192.168.1.1\nsearch lan\n' };
  const links: Record<string, string> = {};
  const probe = (over: Partial<DnsProbe> = {}): DnsProbe => ({
    detect: async () => 'resolvconf',
    resolvConfPath: '/etc/resolv.conf',
    readlink: async (p) => links[p],
    readFile: async (p) => files[p],
    resolvectlWorks: async () => true,
    nameservers: (text) => [...text.matchAll(/^nameserver (\S+)/gm)].map((m) => m[1] as string),
    ...over,
  });
  t.match(await checkDns(probe()), {
    status: 'ok',
    detail: 'resolv.conf: /etc/resolv.conf (backed up and restored on down), upstream 192.168.1.1',
  });
  t.match(await checkDns(probe({ detect: async () => 'resolved' })), { status: 'ok', detail: /systemd-resolved/ });
  t.match(await checkDns(probe({ detect: async () => 'resolved', resolvectlWorks: async () => false })), {
    status: 'fail',
    fix: /--dns resolvconf/,
  });

  links['/etc/resolv.conf'] = '../run/NetworkManager/resolv.conf';
  t.match(await checkDns(probe()), {
    status: 'fail',
    category: 'system',
    detail: /is a symlink to \.\.\/run\/NetworkManager\/resolv\.conf/,
    fix: /--dns-replace-symlink/,
  });
  delete links['/etc/resolv.conf'];

  files['/etc/resolv.conf'] = '# Written by kvpn. The original is in /var/lib/kvpn/dns/x\nnameserver 198.18.0.2\n';
  t.match(await checkDns(probe()), { status: 'fail', detail: /written by kvpn and not put back/ });
  files['/etc/resolv.conf'] = 'search lan\n';
  t.match(await checkDns(probe()), { status: 'warn', detail: /names no DNS server/ });

  const unsupported = await checkDns(
    probe({
      detect: async () => {
        throw new SystemDnsError('KVPN_ERR_DNS_UNSUPPORTED_PLATFORM', 'configuring DNS on win32 is not supported', {
          remedy: 'Run kvpn on Linux.',
        });
      },
    }),
  );
  t.match(unsupported, {
    status: 'fail',
    code: 'KVPN_ERR_DNS_UNSUPPORTED_PLATFORM',
    fix: 'Run kvpn on Linux. Or run kvpn up --dns off (cluster names then do not resolve).',
  });
});
