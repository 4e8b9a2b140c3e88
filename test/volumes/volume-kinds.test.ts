// Which pod volumes are built on the laptop from API objects ('api') and
// which must be read from the running pod ('pod'), and what 'api' ones read.
import t from 'tap';
import { kubeletVolumeDirMode, referencedObjects, volumeKind } from '../../src/volumes/volume-kinds.js';

t.test('configMap, secret, downwardAPI: built from the API', async (t) => {
  t.equal(volumeKind({ name: 'a', configMap: { name: 'settings' } }), 'api');
  t.equal(volumeKind({ name: 'b', secret: { secretName: 'db' } }), 'api');
  t.equal(volumeKind({ name: 'c', downwardAPI: { items: [] } }), 'api');
});

t.test('projected: api only when every source is configMap, secret or downwardAPI', async (t) => {
  const cm = { configMap: { name: 'settings' } };
  t.equal(
    volumeKind({ name: 'p', projected: { sources: [cm, { secret: { name: 'db' } }, { downwardAPI: {} }] } }),
    'api',
  );
  t.equal(volumeKind({ name: 'p', projected: { sources: [] } }), 'api', 'no sources: an empty volume');
  t.equal(
    volumeKind({ name: 'p', projected: { sources: [cm, { serviceAccountToken: { path: 'token' } }] } }),
    'pod',
    'a token is minted for the pod only',
  );
  t.equal(volumeKind({ name: 'p', projected: { sources: [{ clusterTrustBundle: { path: 'ca' } }] } }), 'pod');
  t.equal(volumeKind({ name: 'p', projected: { sources: [{ podCertificate: {} }] } }), 'pod', 'unknown to kvpn');
});

t.test('everything else is read from the pod', async (t) => {
  for (const source of ['emptyDir', 'persistentVolumeClaim', 'hostPath', 'csi', 'ephemeral', 'nfs', 'image', 'gitRepo'])
    t.equal(volumeKind({ name: 'v', [source]: {} }), 'pod', source);
  t.equal(volumeKind({ name: 'v' }), 'pod', 'no source at all');
  t.equal(volumeKind({ name: 'v', configMap: null }), 'pod', 'a null source is no source');
});

t.test('referencedObjects: ConfigMaps and Secrets by name, once each, in spec order', async (t) => {
  t.same(referencedObjects({ name: 'a', configMap: { name: 'settings' } }), { configMaps: ['settings'], secrets: [] });
  t.same(referencedObjects({ name: 'b', secret: { secretName: 'db' } }), { configMaps: [], secrets: ['db'] });
  t.same(
    referencedObjects({
      name: 'p',
      projected: {
        sources: [
          { configMap: { name: 'z' } },
          { secret: { name: 'db' } },
          { configMap: { name: 'a' } },
          { configMap: { name: 'z', items: [{ key: 'k', path: 'p' }] } },
          { downwardAPI: { items: [] } },
        ],
      },
    }),
    { configMaps: ['z', 'a'], secrets: ['db'] },
  );
  t.same(referencedObjects({ name: 'd', downwardAPI: {} }), { configMaps: [], secrets: [] });
  t.same(referencedObjects({ name: 'e', emptyDir: {} }), { configMaps: [], secrets: [] });
});

t.test("the volume root's mode in the container: emptyDir 0777 on disk, tmpfs 01777", async (t) => {
  t.equal(kubeletVolumeDirMode({ name: 'a', configMap: { name: 'c' } }), 0o777);
  t.equal(kubeletVolumeDirMode({ name: 'b', secret: { secretName: 's' } }), 0o1777);
  t.equal(kubeletVolumeDirMode({ name: 'c', downwardAPI: {} }), 0o1777);
  t.equal(kubeletVolumeDirMode({ name: 'd', projected: {} }), 0o1777);
});
