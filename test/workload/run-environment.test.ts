// `kvpn run`'s environment: the workload's variables over the user's, the
// user's PATH/HOME/USER/SHELL/TERM kept unless --all-env, and what has no
// text value (unavailable, not UTF-8) left unset and reported.
import t from 'tap';
import { layeredEnvironment } from '../../src/cli/run.js';
import type { WorkloadEnvironment } from '../../src/workload/index.js';

const ENV: WorkloadEnvironment = {
  workload: 'Deployment/web',
  namespace: 'shop',
  container: 'app',
  pod: 'web-1',
  context: 'staging',
  entries: [
    { name: 'DB_HOST', value: '10.96.0.5', source: 'service', fromSecret: false },
    { name: 'MODE', value: 'cluster', source: 'value', fromSecret: false },
    { name: 'PATH', value: '/app/bin', source: 'value', fromSecret: false },
    { name: 'HOME', value: '/app', source: 'value', fromSecret: false },
    { name: 'POD_IP', unavailable: 'no running pod', source: 'fieldRef', fromSecret: false },
    { name: 'BIN', value: 'f\ufffd', bytes: Buffer.from([0x66, 0xff]), source: 'secret', fromSecret: true },
  ],
};
const USER = { PATH: '/usr/bin', HOME: '/home/me', MODE: 'laptop', EDITOR: 'vi' };

t.test("the workload wins, but the user's PATH and HOME stay", async (t) => {
  const { vars, left } = layeredEnvironment(USER, ENV, false);
  t.same(vars, {
    PATH: '/usr/bin',
    HOME: '/home/me',
    MODE: 'cluster',
    EDITOR: 'vi',
    DB_HOST: '10.96.0.5',
    KVPN_CONTEXT: 'staging',
  });
  t.same(left, ['POD_IP', 'BIN']);
});

t.test('--all-env lets the workload replace them too', async (t) => {
  const { vars } = layeredEnvironment(USER, ENV, true);
  t.equal(vars.PATH, '/app/bin');
  t.equal(vars.HOME, '/app');
});
