// The real world's certificates: one CA for everything (as kubeadm's
// defaults, minus the front proxy and etcd's own CA, which nothing here
// needs), the API server's serving certificate, a client certificate per
// component with the user and group its default RBAC binding expects, and
// the ServiceAccount signing key.
import { join } from 'node:path';
import { run } from '../network/shell.js';
import { createCa, issue, type KeyPair } from '../pki.js';

export interface RealPki {
  dir: string;
  ca: KeyPair;
  apiserver: KeyPair;
  /** The API server's client certificate toward kubelets (exec, logs, port-forward). */
  apiserverKubeletClient: KeyPair;
  admin: KeyPair;
  controllerManager: KeyPair;
  scheduler: KeyPair;
  kubelet: KeyPair;
  proxy: KeyPair;
  /** Paths of the ServiceAccount token signing key pair. */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

const CLIENT = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';

export async function createRealPki(
  dir: string,
  /** Every address the API server is reached at: the node's, the kubernetes Service's. */
  serverIps: readonly string[],
  nodeName: string,
  clusterDomain: string,
): Promise<RealPki> {
  const ca = await createCa(dir);
  const names = [
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${clusterDomain}`,
  ];
  const serving = `subjectAltName=${[...serverIps, '127.0.0.1'].map((ip) => `IP:${ip}`).join(',')},DNS:localhost,${names
    .map((n) => `DNS:${n}`)
    .join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`;
  const [apiserver, apiserverKubeletClient, admin, controllerManager, scheduler, kubelet, proxy] = await Promise.all([
    issue(dir, 'apiserver', '/CN=kube-apiserver', serving),
    issue(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', CLIENT),
    issue(dir, 'admin', '/O=system:masters/CN=kubernetes-admin', CLIENT),
    issue(dir, 'controller-manager', '/CN=system:kube-controller-manager', CLIENT),
    issue(dir, 'scheduler', '/CN=system:kube-scheduler', CLIENT),
    issue(dir, 'kubelet', `/O=system:nodes/CN=system:node:${nodeName}`, CLIENT),
    issue(dir, 'kube-proxy', '/CN=system:kube-proxy', CLIENT),
  ]);
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  await run('openssl', ['genrsa', '-out', serviceAccountKey, '2048']);
  await run('openssl', ['rsa', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return {
    dir,
    ca,
    apiserver,
    apiserverKubeletClient,
    admin,
    controllerManager,
    scheduler,
    kubelet,
    proxy,
    serviceAccountKey,
    serviceAccountPub,
  };
}

/** Where `issue` left a pair: `dir/name.crt`, `dir/name.key`. */
export function pairPaths(pki: RealPki, name: string): { cert: string; key: string } {
  return { cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`) };
}
