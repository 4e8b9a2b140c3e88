// What the real API server does to an object between decoding and storage:
// generateName, defaults, validation with the real messages, and ClusterIP
// allocation for Services.
import { randomBytes } from 'node:crypto';
import { ClusterIpAllocator, ipToInt } from '../network/ipam.js';
import type { KObject } from './objects.js';
import type { ResourceDef } from './resources.js';
import { fieldInvalid, fieldRequired, invalid, type StatusCause } from './status.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  return [...bytes].map((b) => NAME_SUFFIX_ALPHABET[b % NAME_SUFFIX_ALPHABET.length]).join('');
}

function nameCauses(kind: string, name: string): StatusCause[] {
  if (kind === 'Service' && !DNS1035_LABEL.test(name)) {
    return [
      fieldInvalid(
        'metadata.name',
        JSON.stringify(name),
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  if (kind === 'Namespace' && !DNS1123_LABEL.test(name)) {
    return [
      fieldInvalid(
        'metadata.name',
        JSON.stringify(name),
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    return [
      fieldInvalid(
        'metadata.name',
        JSON.stringify(name),
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  }
  return [];
}

function defaultPullPolicy(image: string): string {
  const lastPart = image.split('/').pop() ?? image;
  return !lastPart.includes(':') || lastPart.endsWith(':latest') ? 'Always' : 'IfNotPresent';
}

export class Admission {
  readonly clusterIps: ClusterIpAllocator;
  readonly serviceCidr: string;

  constructor(serviceCidr: string) {
    this.serviceCidr = serviceCidr;
    this.clusterIps = new ClusterIpAllocator(serviceCidr);
  }

  /** Names, defaults and validation for a new object; throws ApiError 422. */
  admitCreate(r: ResourceDef, obj: KObject, dryRun: boolean): void {
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    const name = meta.name ?? '';
    if (!name)
      throw invalid(r, '', [
        { ...fieldRequired('metadata.name'), message: 'Required value: name or generateName is required' },
      ]);
    const causes = nameCauses(r.kind, name);
    if (causes.length) throw invalid(r, name, causes);
    obj.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
    obj.kind = r.kind;
    switch (r.kind) {
      case 'Pod':
        this.#pod(r, obj);
        break;
      case 'Service':
        this.#service(r, obj, undefined, dryRun);
        break;
      case 'Secret':
        this.#secret(obj);
        break;
      case 'Namespace':
        obj.spec = { finalizers: ['kubernetes'], ...obj.spec };
        obj.status = { phase: 'Active' };
        meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': name };
        break;
      case 'Deployment':
      case 'StatefulSet':
      case 'ReplicaSet':
        meta.generation = 1;
        obj.spec = { replicas: 1, ...obj.spec };
        obj.status ??= {};
        break;
    }
  }

  admitUpdate(r: ResourceDef, old: KObject, obj: KObject): void {
    obj.apiVersion = old.apiVersion;
    obj.kind = old.kind;
    if (r.kind === 'Service') this.#service(r, obj, old, false);
    if (r.kind === 'Secret') this.#secret(obj);
    if (JSON.stringify(old.spec) !== JSON.stringify(obj.spec)) {
      if (old.metadata.generation !== undefined) obj.metadata.generation = old.metadata.generation + 1;
    } else if (old.metadata.generation !== undefined) obj.metadata.generation = old.metadata.generation;
  }

  released(obj: KObject): void {
    if (obj.kind === 'Service')
      for (const ip of obj.spec?.clusterIPs ?? []) if (ip !== 'None') this.clusterIps.release(ip);
  }

  #pod(r: ResourceDef, obj: KObject): void {
    const spec = obj.spec ?? {};
    const name = obj.metadata.name ?? '';
    const containers = spec.containers;
    if (!Array.isArray(containers) || containers.length === 0)
      throw invalid(r, name, [fieldRequired('spec.containers')]);
    const causes: StatusCause[] = [];
    containers.forEach((c: KObject['spec'], i: number) => {
      if (!c?.name) causes.push(fieldRequired(`spec.containers[${i}].name`));
      if (!c?.image) causes.push(fieldRequired(`spec.containers[${i}].image`));
    });
    if (causes.length) throw invalid(r, name, causes);
    for (const c of [...containers, ...(spec.initContainers ?? [])]) {
      c.imagePullPolicy ??= defaultPullPolicy(c.image);
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.resources ??= {};
      for (const p of c.ports ?? []) p.protocol ??= 'TCP';
    }
    spec.restartPolicy ??= 'Always';
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= 'default-scheduler';
    spec.securityContext ??= {};
    spec.terminationGracePeriodSeconds ??= 30;
    spec.serviceAccountName ??= 'default';
    spec.serviceAccount ??= spec.serviceAccountName;
    spec.enableServiceLinks ??= true;
    spec.priority ??= 0;
    spec.preemptionPolicy ??= 'PreemptLowerPriority';
    spec.tolerations ??= [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ];
    obj.spec = spec;
    obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
  }

  #service(r: ResourceDef, obj: KObject, old: KObject | undefined, dryRun: boolean): void {
    const spec = obj.spec ?? {};
    obj.spec = spec;
    const name = obj.metadata.name ?? '';
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type === 'ExternalName') {
      if (!spec.externalName) throw invalid(r, name, [fieldRequired('spec.externalName')]);
      obj.status ??= { loadBalancer: {} };
      return;
    }
    spec.internalTrafficPolicy ??= 'Cluster';
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    const ports = spec.ports ?? [];
    if (ports.length === 0 && spec.clusterIP !== 'None') throw invalid(r, name, [fieldRequired('spec.ports')]);
    ports.forEach((p: { port: number; protocol?: string; targetPort?: number | string }) => {
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
    });
    if (old) {
      // ClusterIPs are immutable: an update that omits them keeps them.
      spec.clusterIP ??= old.spec?.clusterIP;
      spec.clusterIPs ??= old.spec?.clusterIPs;
      obj.status ??= old.status;
      return;
    }
    const requested: string | undefined = spec.clusterIP ?? spec.clusterIPs?.[0];
    if (requested === 'None') {
      spec.clusterIP = 'None';
      spec.clusterIPs = ['None'];
    } else if (requested === undefined || requested === '') {
      const ip = this.clusterIps.allocate();
      if (dryRun) this.clusterIps.release(ip);
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    } else {
      if (Number.isNaN(ipToInt(requested))) {
        throw invalid(r, name, [
          fieldInvalid(
            'spec.clusterIPs[0]',
            JSON.stringify(requested),
            'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
          ),
        ]);
      }
      const res = this.clusterIps.reserve(requested);
      const value = `[]string{${JSON.stringify(requested)}}`;
      if (res === 'range') {
        throw invalid(r, name, [
          fieldInvalid(
            'spec.clusterIPs',
            value,
            `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${this.serviceCidr}`,
          ),
        ]);
      }
      if (res === 'taken') {
        throw invalid(r, name, [
          fieldInvalid(
            'spec.clusterIPs',
            value,
            `failed to allocate IP ${requested}: provided IP is already allocated`,
          ),
        ]);
      }
      if (dryRun) this.clusterIps.release(requested);
      spec.clusterIP = requested;
      spec.clusterIPs = [requested];
    }
    obj.status = { loadBalancer: {} };
  }

  #secret(obj: KObject): void {
    obj.type ??= 'Opaque';
    if (obj.stringData) {
      obj.data ??= {};
      for (const [k, v] of Object.entries(obj.stringData as Record<string, string>)) {
        obj.data[k] = Buffer.from(v).toString('base64');
      }
      delete obj.stringData;
    }
  }
}
