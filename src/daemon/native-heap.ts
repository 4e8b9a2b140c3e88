// Giving the C heap back after a burst. V8's garbage collection frees the
// buffers a burst left behind (HTTP/2 read buffers, connection state), but
// glibc keeps the freed pages mapped: after bulk transfers the daemon's C
// heap stays at ~110 MiB that nothing uses. malloc_trim(0), called through
// kvpn's own addon, returns them. The memory janitor calls this right after
// its garbage collections (memory-janitor.ts).
import { loadAddon } from '../tun/device-linux.js';

/**
 * Returns whether the trim ran: false where there is no glibc, no Linux or
 * no addon (the daemon then simply keeps what it has).
 */
export function trimNativeHeap(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return loadAddon().trimNativeHeap();
  } catch {
    return false;
  }
}
