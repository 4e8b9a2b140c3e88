// Readiness and liveness probes, run from the pod's node (as the kubelet
// runs them): tcpSocket connects to podIP:port, httpGet sends a request and
// wants a 2xx/3xx status, exec runs the command in the pod's network.
import type { KObject } from '../apiserver/objects.js';
import { run } from '../network/shell.js';
import type { NetnsAgent } from './netns-agent.js';

export interface ProbeTarget {
  podIp: string;
  podNetns: string;
  container: KObject['spec'];
  nodeAgent: NetnsAgent;
}

function resolvePort(port: number | string, container: KObject['spec']): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: { name?: string }) => p.name === port);
  return named ? Number(named.containerPort) : Number(port);
}

export async function runProbe(probe: KObject['spec'], t: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.tcpSocket) {
      const s = await t.nodeAgent.connect(
        probe.tcpSocket.host ?? t.podIp,
        resolvePort(probe.tcpSocket.port, t.container),
        timeoutMs,
      );
      s.destroy();
      return true;
    }
    if (probe.httpGet) {
      const port = resolvePort(probe.httpGet.port, t.container);
      const host = probe.httpGet.host ?? t.podIp;
      const s = await t.nodeAgent.connect(host, port, timeoutMs);
      return await new Promise<boolean>((resolve) => {
        let head = '';
        const timer = setTimeout(() => {
          s.destroy();
          resolve(false);
        }, timeoutMs);
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          head += d;
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
          if (m?.[1]) {
            clearTimeout(timer);
            s.destroy();
            const code = Number(m[1]);
            resolve(code >= 200 && code < 400);
          }
        });
        s.on('error', () => {
          clearTimeout(timer);
          resolve(false);
        });
        s.on('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
        const headers = (probe.httpGet.httpHeaders ?? [])
          .map((h: { name: string; value: string }) => `${h.name}: ${h.value}\r\n`)
          .join('');
        s.write(
          `GET ${probe.httpGet.path ?? '/'} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\n${headers}Connection: close\r\n\r\n`,
        );
      });
    }
    if (probe.exec) {
      await run('nsenter', [`--net=/run/netns/${t.podNetns}`, ...(probe.exec.command as string[])]);
      return true;
    }
    return true;
  } catch {
    return false;
  }
}
