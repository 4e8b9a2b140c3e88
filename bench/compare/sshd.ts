// The sshd of the sshuttle arm (Telepresence 1's vpn-tcp): per-run host and
// client keys under the world directory, an sshd config (no PAM, root by key
// only) and the pod that runs it, in the shape each world can run:
//   stand-in  a debian:12 pod; the world's directory is a hostPath volume
//   real      the real world has no debian image: a node:22-alpine pod with
//             the node's root filesystem as a hostPath volume, where the
//             host's own OpenSSH runs chrooted (the keys sit at the same
//             path there). /run/sshd, Debian's privilege separation
//             directory, is made in the node's /run, a tmpfs private to the
//             world.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cluster } from '../../test/cluster/index.js';

const execFileP = promisify(execFile);
const STAND_IN_MOUNT = '/bench-ssh';

function sshdConfig(hostKey: string, authorizedKeys: string): string {
  return `Port 22
ListenAddress 0.0.0.0
HostKey ${hostKey}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile ${authorizedKeys}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
LogLevel ERROR
`;
}

/** Keys and config in `<world>/bench-ssh`; returns the bench-sshd Pod for this world's kind. */
export async function prepareSshd(cluster: Cluster): Promise<{ dir: string; pod: object }> {
  const dir = join(cluster.dir, 'bench-ssh');
  mkdirSync(dir, { recursive: true });
  for (const key of ['id_ed25519', 'host_ed25519']) {
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `kvpn-bench-${key}`, '-f', join(dir, key)]);
  }
  await execFileP('cp', [join(dir, 'id_ed25519.pub'), join(dir, 'authorized_keys')]);
  const real = cluster.kind === 'real';
  writeFileSync(
    join(dir, 'sshd_config'),
    real
      ? sshdConfig(join(dir, 'host_ed25519'), join(dir, 'authorized_keys'))
      : sshdConfig('/tmp/ssh_host_ed25519_key', `${STAND_IN_MOUNT}/authorized_keys`),
  );
  const container = real
    ? {
        name: 'sshd',
        image: 'node:22-alpine',
        command: [
          'sh',
          '-c',
          `mkdir -p /host/run/sshd && exec chroot /host /usr/sbin/sshd -D -e -f ${join(dir, 'sshd_config')}`,
        ],
        volumeMounts: [{ name: 'host', mountPath: '/host' }],
      }
    : {
        name: 'sshd',
        image: 'debian:12',
        command: [
          'sh',
          '-c',
          `mkdir -p /run/sshd && cp ${STAND_IN_MOUNT}/host_ed25519 /tmp/ssh_host_ed25519_key && chmod 600 /tmp/ssh_host_ed25519_key && exec /usr/sbin/sshd -D -e -f ${STAND_IN_MOUNT}/sshd_config`,
        ],
        volumeMounts: [{ name: 'ssh', mountPath: STAND_IN_MOUNT, readOnly: true }],
      };
  const volume = real
    ? { name: 'host', hostPath: { path: '/', type: 'Directory' } }
    : { name: 'ssh', hostPath: { path: dir, type: 'Directory' } };
  return {
    dir,
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bench-sshd', namespace: 'default', labels: { app: 'bench-sshd' } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [{ ...container, readinessProbe: { tcpSocket: { port: 22 }, periodSeconds: 1 } }],
        volumes: [volume],
      },
    },
  };
}
