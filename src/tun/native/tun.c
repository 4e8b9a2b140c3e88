// kvpn TUN addon: opens a Linux TUN device and moves packets in batches.
//
// Data flow: uv_poll wakes on a readable fd -> read() up to `maxBatch`
// packets back to back into one JS-owned slab -> one JS callback(count) with
// the packet lengths in a JS-owned Uint32Array. The slab is reused on the next
// wake-up, so JS must consume or copy the packets during the callback.
// Writes take an array of Uint8Array and stop at EAGAIN, returning how many
// were accepted, so JS can queue the rest and ask for a writable wake-up.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <node_api.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
  int fd;
  int closed;
  int want_writable;
  napi_env env;
  uv_poll_t *poll;
  napi_ref read_cb;
  napi_ref writable_cb;
  napi_ref slab_ref;
  napi_ref lengths_ref;
  uint8_t *slab;
  size_t slab_len;
  uint32_t *lengths;
  size_t max_batch;
  size_t mtu;
} tun_t;

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *code = uv_err_name(uv_translate_sys_error(err));
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(err), code);
  napi_value message, code_v, errno_v, syscall_v, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_create_int32(env, -err, &errno_v);
  napi_create_error(env, NULL, message, &error);
  napi_set_named_property(env, error, "code", code_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "KVPN_ERR_TUN_ARGUMENT", msg);
  return NULL;
}

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) return throw_type(env, "internal N-API failure");   \
  } while (0)

static tun_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (tun_t *)p;
}

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void tun_release(tun_t *t) {
  if (t->closed) return;
  t->closed = 1;
  if (t->poll) {
    uv_poll_stop(t->poll);
    uv_close((uv_handle_t *)t->poll, on_poll_closed);
    t->poll = NULL;
  }
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  napi_env env = t->env;
  if (t->read_cb) napi_delete_reference(env, t->read_cb);
  if (t->writable_cb) napi_delete_reference(env, t->writable_cb);
  if (t->slab_ref) napi_delete_reference(env, t->slab_ref);
  if (t->lengths_ref) napi_delete_reference(env, t->lengths_ref);
  t->read_cb = t->writable_cb = t->slab_ref = t->lengths_ref = NULL;
}

static void tun_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tun_t *t = (tun_t *)data;
  // The env is being torn down or the handle is unreachable: release the fd.
  if (!t->closed) {
    t->closed = 1;
    if (t->poll) {
      uv_poll_stop(t->poll);
      uv_close((uv_handle_t *)t->poll, on_poll_closed);
    }
    if (t->fd >= 0) close(t->fd);
  }
  free(t);
}

// open(name: string, netnsPath: string | null) -> [handle, actualName]
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  char nspath[4096] = {0};
  size_t len = 0;
  napi_valuetype t0, t1;
  CHECK(napi_typeof(env, argv[0], &t0));
  CHECK(napi_typeof(env, argv[1], &t1));
  if (t0 == napi_string) {
    CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
    if (len >= IFNAMSIZ) return throw_type(env, "interface name longer than 15 bytes");
    CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
  }
  if (t1 == napi_string) {
    CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
    if (len >= sizeof nspath) return throw_type(env, "netns path too long");
    CHECK(napi_get_value_string_utf8(env, argv[1], nspath, sizeof nspath, &len));
  }

  int orig_ns = -1, target_ns = -1;
  if (nspath[0]) {
    orig_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ns < 0) return throw_errno(env, "open(/proc/thread-self/ns/net)", errno);
    target_ns = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target_ns < 0) {
      int e = errno;
      close(orig_ns);
      return throw_errno(env, "open(netns)", e);
    }
    if (setns(target_ns, CLONE_NEWNET) < 0) {
      int e = errno;
      close(orig_ns);
      close(target_ns);
      return throw_errno(env, "setns", e);
    }
  }

  int err = 0;
  const char *failed = NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    failed = "open(/dev/net/tun)";
  } else {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      err = errno;
      failed = "ioctl(TUNSETIFF)";
      close(fd);
      fd = -1;
    } else {
      memcpy(name, ifr.ifr_name, IFNAMSIZ);
      name[IFNAMSIZ - 1] = 0;
    }
  }

  if (orig_ns >= 0) {
    // Return the thread to where it was, whatever happened above.
    if (setns(orig_ns, CLONE_NEWNET) < 0) abort();
    close(orig_ns);
    close(target_ns);
  }
  if (fd < 0) return throw_errno(env, failed, err);

  tun_t *t = calloc(1, sizeof *t);
  if (!t) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  t->fd = fd;
  t->env = env;
  napi_value handle, name_v, result;
  CHECK(napi_create_external(env, t, tun_finalize, NULL, &handle));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &name_v));
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_set_element(env, result, 0, handle));
  CHECK(napi_set_element(env, result, 1, name_v));
  return result;
}

static void call_js(tun_t *t, napi_ref cb_ref, size_t count) {
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, global, arg, resource_name;
  napi_async_context ctx;
  napi_get_reference_value(env, cb_ref, &cb);
  napi_get_global(env, &global);
  napi_create_uint32(env, (uint32_t)count, &arg);
  napi_create_string_utf8(env, "kvpn:tun", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_async_init(env, NULL, resource_name, &ctx) == napi_ok) {
    napi_value ignored;
    // make_callback drains the microtask queue and reports exceptions.
    napi_make_callback(env, ctx, global, cb, 1, &arg, &ignored);
    napi_async_destroy(env, ctx);
  }
  napi_close_handle_scope(env, scope);
}

static void update_poll(tun_t *t, int readable);

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  if (t->closed) return;
  if (status < 0) {
    // Report as a read of zero packets with the error left to a later read.
    return;
  }
  if ((events & UV_WRITABLE) && t->want_writable) {
    t->want_writable = 0;
    update_poll(t, t->read_cb != NULL);
    if (t->writable_cb) call_js(t, t->writable_cb, 0);
    if (t->closed) return;
  }
  if (!(events & UV_READABLE) || !t->read_cb) return;
  size_t count = 0, off = 0;
  while (count < t->max_batch && t->slab_len - off >= t->mtu) {
    ssize_t n = read(t->fd, t->slab + off, t->mtu);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained; any other error surfaces on write/close.
    }
    t->lengths[count++] = (uint32_t)n;
    off += (size_t)n;
  }
  if (count > 0) call_js(t, t->read_cb, count);
}

static void update_poll(tun_t *t, int readable) {
  if (t->closed) return;
  int events = (readable ? UV_READABLE : 0) | (t->want_writable ? UV_WRITABLE : 0);
  if (events == 0) {
    if (t->poll) uv_poll_stop(t->poll);
    return;
  }
  if (!t->poll) {
    uv_loop_t *loop;
    napi_get_uv_event_loop(t->env, &loop);
    t->poll = malloc(sizeof *t->poll);
    if (!t->poll) return;
    uv_poll_init(loop, t->poll, t->fd);
    t->poll->data = t;
  }
  uv_poll_start(t->poll, events, on_poll);
}

// startReading(handle, slab: Uint8Array, lengths: Uint32Array, mtu, onRead)
static napi_value tun_start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return throw_type(env, "not a TUN handle");
  if (t->closed) return throw_errno(env, "startReading", EBADF);
  napi_typedarray_type ty;
  size_t slab_len, lengths_len, off;
  void *slab, *lengths;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &ty, &slab_len, &slab, &ab, &off) != napi_ok ||
      ty != napi_uint8_array)
    return throw_type(env, "slab must be a Uint8Array");
  if (napi_get_typedarray_info(env, argv[2], &ty, &lengths_len, &lengths, &ab, &off) != napi_ok ||
      ty != napi_uint32_array)
    return throw_type(env, "lengths must be a Uint32Array");
  uint32_t mtu;
  CHECK(napi_get_value_uint32(env, argv[3], &mtu));
  if (mtu < 68 || mtu > 65535 || slab_len < mtu || lengths_len == 0)
    return throw_type(env, "slab must hold at least one MTU-sized packet");
  if (t->read_cb) napi_delete_reference(env, t->read_cb);
  if (t->slab_ref) napi_delete_reference(env, t->slab_ref);
  if (t->lengths_ref) napi_delete_reference(env, t->lengths_ref);
  CHECK(napi_create_reference(env, argv[4], 1, &t->read_cb));
  CHECK(napi_create_reference(env, argv[1], 1, &t->slab_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &t->lengths_ref));
  t->slab = slab;
  t->slab_len = slab_len;
  t->lengths = lengths;
  t->max_batch = lengths_len;
  t->mtu = mtu;
  update_poll(t, 1);
  return NULL;
}

// pauseReading(handle) / resumeReading(handle): backpressure from JS.
static napi_value tun_set_reading(napi_env env, napi_callback_info info, int on) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return throw_type(env, "not a TUN handle");
  if (!t->closed && t->read_cb) update_poll(t, on);
  return NULL;
}
static napi_value tun_pause(napi_env env, napi_callback_info info) {
  return tun_set_reading(env, info, 0);
}
static napi_value tun_resume(napi_env env, napi_callback_info info) {
  return tun_set_reading(env, info, 1);
}

// writeBatch(handle, packets: Uint8Array[], start) -> number written.
// Stops at EAGAIN (returns the count so far); throws on other errors.
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return throw_type(env, "not a TUN handle");
  if (t->closed) return throw_errno(env, "write", EBADF);
  uint32_t n, start = 0;
  CHECK(napi_get_array_length(env, argv[1], &n));
  if (argc >= 3) napi_get_value_uint32(env, argv[2], &start);
  uint32_t i = start;
  for (; i < n; i++) {
    napi_value el;
    CHECK(napi_get_element(env, argv[1], i, &el));
    napi_typedarray_type ty;
    size_t len, off;
    void *data;
    napi_value ab;
    if (napi_get_typedarray_info(env, el, &ty, &len, &data, &ab, &off) != napi_ok ||
        ty != napi_uint8_array)
      return throw_type(env, "packets must be Uint8Arrays");
    ssize_t w;
    do {
      w = write(t->fd, data, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      // The kernel rejected this one packet (EINVAL on a malformed header,
      // EIO when the link is down): skip it and say how many were skipped.
      if (errno == EINVAL || errno == EIO || errno == EFAULT) continue;
      return throw_errno(env, "write", errno);
    }
  }
  napi_value result;
  CHECK(napi_create_uint32(env, i - start, &result));
  return result;
}

// onWritable(handle, cb): one-shot wake-up when the fd can take writes again.
static napi_value tun_on_writable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return throw_type(env, "not a TUN handle");
  if (t->closed) return NULL;
  if (t->writable_cb) napi_delete_reference(env, t->writable_cb);
  CHECK(napi_create_reference(env, argv[1], 1, &t->writable_cb));
  t->want_writable = 1;
  update_poll(t, t->read_cb != NULL);
  return NULL;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return throw_type(env, "not a TUN handle");
  tun_release(t);
  return NULL;
}

// Not the TUN device, but this is kvpn's one native module: hands the free
// pages glibc keeps after a burst (HTTP/2 read buffers, connection state)
// back to the kernel. Returns whether anything could be trimmed at all
// (false without glibc, where there is no malloc_trim).
static napi_value trim_native_heap(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#ifdef __GLIBC__
  malloc_trim(0);
  CHECK(napi_get_boolean(env, true, &result));
#else
  CHECK(napi_get_boolean(env, false, &result));
#endif
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
      {"startReading", NULL, tun_start_reading, NULL, NULL, NULL, napi_default, NULL},
      {"pauseReading", NULL, tun_pause, NULL, NULL, NULL, napi_default, NULL},
      {"resumeReading", NULL, tun_resume, NULL, NULL, NULL, napi_default, NULL},
      {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_default, NULL},
      {"onWritable", NULL, tun_on_writable, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL},
      {"trimNativeHeap", NULL, trim_native_heap, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
