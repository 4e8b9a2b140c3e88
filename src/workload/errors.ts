// What stops kvpn from giving a container's environment. Each is a case the
// kubelet also refuses (CreateContainerConfigError) or a workload the user
// named that cannot be found; docs/errors.md lists the codes.
import { KvpnError } from '../errors.js';

/** A non-optional ConfigMap, Secret or key the container references is missing. */
export class MissingReferenceError extends KvpnError {
  readonly kind: 'ConfigMap' | 'Secret';
  readonly object: string;
  readonly key: string | undefined;
  constructor(kind: 'ConfigMap' | 'Secret', namespace: string, name: string, key?: string) {
    const what =
      key === undefined
        ? `${kind} "${namespace}/${name}" does not exist`
        : `${kind} "${namespace}/${name}" has no key "${key}"`;
    super(
      'KVPN_ERR_WORKLOAD_MISSING_REF',
      'cluster',
      `${what}, and the container needs it: the kubelet would not start it either (CreateContainerConfigError)`,
      { remedy: `Create the ${kind}${key === undefined ? '' : ' key'}, or mark the reference optional: true.` },
    );
    this.kind = kind;
    this.object = `${namespace}/${name}`;
    this.key = key;
  }
}

/** An env entry kvpn cannot evaluate (a field path or resource the API would not accept for env). */
export class UnsupportedReferenceError extends KvpnError {
  constructor(variable: string, detail: string) {
    super('KVPN_ERR_WORKLOAD_UNSUPPORTED_REF', 'cluster', `variable ${variable}: ${detail}`, {
      remedy: 'Check the container spec with `kubectl get -o yaml`; the kubelet would refuse this reference too.',
    });
  }
}

export class UnknownContainerError extends KvpnError {
  constructor(workload: string, container: string, known: string[]) {
    super('KVPN_ERR_WORKLOAD_CONTAINER', 'user', `${workload} has no container "${container}"`, {
      remedy: `Pick one with -c: ${known.join(', ') || '(none)'}.`,
    });
  }
}

export class UnknownWorkloadError extends KvpnError {
  constructor(workload: string, namespace: string, detail = '') {
    super('KVPN_ERR_WORKLOAD_NOT_FOUND', 'user', `no ${workload} in namespace "${namespace}"${detail}`, {
      remedy: 'Check the name and namespace (-n), e.g. with `kubectl get deploy,sts,ds,pod -n NAMESPACE`.',
    });
  }
}

/** A bare name is a Deployment, else a Pod; other kinds with that name must be named with their kind. */
export class WorkloadKindNeededError extends KvpnError {
  readonly matches: string[];
  constructor(name: string, namespace: string, matches: string[]) {
    super(
      'KVPN_ERR_WORKLOAD_AMBIGUOUS',
      'user',
      `"${name}" is no Deployment or Pod in namespace "${namespace}", but ${matches.join(' and ')} ${matches.length > 1 ? 'are' : 'is'}`,
      { remedy: `Name the kind, e.g. \`${matches[0]}\`.` },
    );
    this.matches = matches;
  }
}

export class UnknownWorkloadKindError extends KvpnError {
  constructor(kind: string) {
    super('KVPN_ERR_WORKLOAD_KIND', 'user', `"${kind}" is not a workload kind kvpn knows`, {
      remedy: 'Use deploy/, sts/, ds/, rs/, job/, cronjob/ or pod/ before the name (kubectl syntax).',
    });
  }
}

export class UnknownPodError extends KvpnError {
  constructor(pod: string, workload: string) {
    super('KVPN_ERR_WORKLOAD_POD', 'user', `pod "${pod}" is not a pod of ${workload}`, {
      remedy: 'Leave out --pod to use a Ready pod of the workload, or name one `kubectl get pods` lists for it.',
    });
  }
}
