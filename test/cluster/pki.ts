// The world's certificates, made with the openssl CLI: a CA, the API
// server's serving certificate (127.0.0.1, localhost, kubernetes.default…)
// and client certificates (CN = user, O = groups).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './network/shell.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface WorldPki {
  ca: KeyPair;
  server: KeyPair;
  admin: KeyPair;
}

const CURVE = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A key and a certificate signed by the CA in `dir` (ca.crt, ca.key), as `dir`/`name`.{key,crt}. */
export async function issue(dir: string, name: string, subject: string, ext: string): Promise<KeyPair> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const crt = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await run('openssl', ['req', '-new', ...CURVE, '-keyout', key, '-out', csr, '-subj', subject]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, 'ca.crt'),
    '-CAkey',
    join(dir, 'ca.key'),
    // A serial of its own per certificate: with -CAcreateserial, certificates
    // signed in parallel raced on one ca.srl file ("Unable to load number").
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    '30',
    '-out',
    crt,
    '-extfile',
    extFile,
  ]);
  return { cert: await readFile(crt, 'utf8'), key: await readFile(key, 'utf8') };
}

/** A fresh CA in `dir` (ca.crt, ca.key). */
export async function createCa(dir: string): Promise<KeyPair> {
  await mkdir(dir, { recursive: true });
  await run('openssl', [
    'req',
    '-x509',
    ...CURVE,
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '30',
    '-subj',
    '/CN=kubernetes',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return { cert: await readFile(join(dir, 'ca.crt'), 'utf8'), key: await readFile(join(dir, 'ca.key'), 'utf8') };
}

export async function createPki(dir: string, clusterDomain: string): Promise<WorldPki> {
  const ca = await createCa(dir);
  const [server, admin] = await Promise.all([
    issue(
      dir,
      'apiserver',
      '/CN=kube-apiserver',
      `subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${clusterDomain}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`,
    ),
    issue(
      dir,
      'admin',
      '/O=system:masters/CN=kubernetes-admin',
      'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
    ),
  ]);
  return { ca, server, admin };
}
