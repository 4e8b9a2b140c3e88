// --also-proxy / --never-proxy values as `kvpn up` checks them: IPv6 ranges
// and addresses are accepted like IPv4 ones (dual-stack and IPv6-only
// clusters), and a malformed IPv6 prefix is a usage error before anything
// is changed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/app.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { memoryIo } from '../../src/cli/io.js';
import { parseTargets } from '../../src/cli/up.js';

t.test('IPv6 CIDRs and addresses are targets of both flags; host names only of --also-proxy', async (t) => {
  t.same(parseTargets(['fd00:10:96::/112,FD00:BEEF::1', '2001:db8::/32'], '--never-proxy', false), [
    'fd00:10:96::/112',
    'FD00:BEEF::1',
    '2001:db8::/32',
  ]);
  t.same(parseTargets(['fd00:10:244::/56', 'db.internal', '10.20.0.0/16'], '--also-proxy', true), [
    'fd00:10:244::/56',
    'db.internal',
    '10.20.0.0/16',
  ]);
  t.throws(() => parseTargets(['fd00::/129'], '--never-proxy', false), {
    code: 'KVPN_ERR_USAGE',
    message: '--never-proxy "fd00::/129" is not a CIDR',
  });
  t.throws(() => parseTargets(['fd00:::1'], '--also-proxy', true), {
    code: 'KVPN_ERR_USAGE',
    message: '--also-proxy "fd00:::1" is not a CIDR or a host name',
  });
});

t.test('a bad IPv6 prefix on the command line: usage error, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const io = memoryIo({
    ...process.env,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    KUBECONFIG: join(dir, 'none'),
  });
  const code = await runCli(['up', '--never-proxy', 'fd00:10:96::/112', '--also-proxy', 'fd00::/200'], io);
  t.equal(code, EXIT.USAGE);
  t.match(io.stderr, '--also-proxy "fd00::/200" is not a CIDR or a host name');
});
