// The parts of Service, EndpointSlice and Pod objects that DNS reads
// (core/v1 and discovery.k8s.io/v1 wire format).
import type { KubeObject } from '../kube/informer.js';

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
}

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalName?: string;
    ports?: ServicePort[];
    publishNotReadyAddresses?: boolean;
  };
}

export interface EndpointSlice extends KubeObject {
  addressType?: 'IPv4' | 'IPv6' | 'FQDN' | string;
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    hostname?: string;
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
}

export interface Pod extends KubeObject {
  spec?: { hostname?: string; subdomain?: string; hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
