// `kvpn mount`: a workload's volumes on the laptop (docs/mount.md).
//
//   planMounts (mount-plan.ts, pure) ─► WorkloadMount (workload-mount.ts):
//     configMap/secret/downwardAPI/projected: written from the API, kept live (api-volume.ts)
//     everything else: kvpn's file server in the pod (file-server.ts) ─► forwarder ─► sshfs
//
// The session enters here only.
export { MountError } from './errors.js';
export { loadFilesBundle } from './files-bundle.js';
export { type FilledDir, prepareMountDir, removeMount } from './mount-dir.js';
export { containerUser, type MountPlan, type PlannedMount, planMounts } from './mount-plan.js';
export { findMountTarget, type MountTarget } from './mount-target.js';
export { bindAtRealPaths, type PrivateMount } from './private-mounts-linux.js';
export { mountsUnder } from './sshfs-linux.js';
export { type MountedPath, type MountLog, WorkloadMount, type WorkloadMountOptions } from './workload-mount.js';
