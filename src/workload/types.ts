// The parts of Kubernetes objects the environment is made of, as the API
// serves them (JSON). Only the fields read here are declared.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  ownerReferences?: { kind: string; name: string; uid: string }[];
}

export type ResourceList = Record<string, string | number>;

export interface EnvVarSource {
  fieldRef?: { apiVersion?: string; fieldPath: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
  configMapKeyRef?: { name: string; key: string; optional?: boolean };
  secretKeyRef?: { name: string; key: string; optional?: boolean };
  fileKeyRef?: { volumeName: string; path: string; key: string; optional?: boolean };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: { requests?: ResourceList; limits?: ResourceList };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  enableServiceLinks?: boolean;
  nodeName?: string;
  serviceAccountName?: string;
  resources?: { requests?: ResourceList; limits?: ResourceList };
}

export interface Pod {
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: {
    phase?: string;
    hostIP?: string;
    hostIPs?: { ip: string }[];
    podIP?: string;
    podIPs?: { ip: string }[];
    conditions?: { type: string; status: string }[];
  };
}

export interface ConfigMap {
  metadata: ObjectMeta;
  data?: Record<string, string>;
}

/** Secret `data` values are base64, as the API serves them. */
export interface Secret {
  metadata: ObjectMeta;
  data?: Record<string, string>;
}

export interface Service {
  metadata: ObjectMeta;
  spec: {
    clusterIP?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
  };
}

export interface Node {
  metadata: ObjectMeta;
  status?: { allocatable?: ResourceList; addresses?: { type: string; address: string }[] };
}
