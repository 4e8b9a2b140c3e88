// A workload with one volume of each kind `kvpn mount` handles, for the real
// world: a ConfigMap, a Secret with items and modes, a downward API volume,
// an emptyDir, a PersistentVolumeClaim (bound to a hostPath PersistentVolume
// of the node, the test world's nearest to a real disk) and the projected
// service-account token every pod gets. Its container runs as uid 1000 with
// no fsGroup, so every file is made readable by others (the listing in the
// container must read each one).
export const VOLS_APP_YAML = 'greeting: hello\nport: 8080\n';

export function volumesWorkload(hostPathDir: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'vols-config', namespace: 'default' },
        data: { 'app.yaml': VOLS_APP_YAML, 'feature.flags': 'a=1\nb=2' },
        binaryData: { 'logo.bin': Buffer.from([0, 1, 2, 255, 254]).toString('base64') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'vols-secret', namespace: 'default' },
        data: {
          password: Buffer.from('s3cr3t\n').toString('base64'),
          'api-key': Buffer.from('k-123').toString('base64'),
          unused: Buffer.from('not projected').toString('base64'),
        },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: 'vols-data-pv' },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'manual',
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: hostPathDir, type: 'Directory' },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'vols-data', namespace: 'default' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'manual',
          volumeName: 'vols-data-pv',
          resources: { requests: { storage: '1Gi' } },
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'vols', namespace: 'default' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'vols' } },
          template: {
            metadata: {
              labels: { app: 'vols', tier: 'back-end' },
              annotations: { 'kvpn.dev/note': 'multi\nline "quoted" ünïcode\ttab' },
            },
            spec: {
              securityContext: { runAsUser: 1000, runAsGroup: 1000 },
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'app',
                  image: 'node:22-alpine',
                  command: [
                    'sh',
                    '-c',
                    'mkdir -p /var/cache/vols/sub && echo scratch > /var/cache/vols/sub/note.txt && ' +
                      'chmod 640 /var/cache/vols/sub/note.txt && exec sleep 2147483647',
                  ],
                  resources: { limits: { cpu: '500m', memory: '256Mi' } },
                  volumeMounts: [
                    { name: 'config', mountPath: '/etc/config' },
                    { name: 'secret', mountPath: '/etc/secret', readOnly: true },
                    { name: 'podinfo', mountPath: '/etc/podinfo' },
                    { name: 'cache', mountPath: '/var/cache/vols' },
                    { name: 'data', mountPath: '/var/lib/vols' },
                    { name: 'config', mountPath: '/etc/app.yaml', subPath: 'app.yaml' },
                  ],
                },
              ],
              volumes: [
                { name: 'config', configMap: { name: 'vols-config' } },
                {
                  name: 'secret',
                  secret: {
                    secretName: 'vols-secret',
                    defaultMode: 0o444,
                    items: [
                      { key: 'password', path: 'db/password', mode: 0o604 },
                      { key: 'api-key', path: 'api-key' },
                    ],
                  },
                },
                {
                  name: 'podinfo',
                  downwardAPI: {
                    items: [
                      { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                      { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
                      { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                      { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" }, mode: 0o604 },
                      {
                        path: 'limits/cpu',
                        resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' },
                      },
                    ],
                  },
                },
                { name: 'cache', emptyDir: {} },
                { name: 'data', persistentVolumeClaim: { claimName: 'vols-data' } },
              ],
            },
          },
        },
      },
    ],
  };
}
