// qingtian's disk I/O helper for the storage I/O worker. Two ways to move 4 KiB blocks between
// host memory and the volume's disk files without one system call per block:
//
//  - mapped files: each disk file is mapped shared (mmap) once, and a read or write is a memcpy
//    between the mapping and host memory. On tmpfs or the page cache this costs the copy and no
//    system call. A page that is gone (the file shrank under the mapping) raises SIGBUS; the copy
//    is guarded, so that it fails with -EIO instead of killing the process.
//  - io_uring: a burst of reads and writes is handed to the kernel in one io_uring_enter.
//
// Linux only, built at install by scripts/build-native.mjs with plain gcc against Node's N-API
// headers; optional: without it the volume engine uses synchronous preads and pwrites.
//
// API (N-API):
//   mapFile(fd, bytes) -> mapping (an external), or a negative errno
//   unmapFile(mapping)
//   copyIn(mapping, memory, address, fileOffset, length) -> 0, or a negative errno (file to memory)
//   copyOut(mapping, memory, address, fileOffset, length) -> 0, or a negative errno (memory to file)
//     memory: a Uint8Array over host memory; both ranges are checked before anything is copied
//     (-EFAULT when outside). The caller keeps file offsets below the file's size.
//   create(entries) -> ring (an external), or a negative errno when io_uring_setup fails
//   run(ring, memory, ops, count, results) -> completions reaped (>= 0), or a negative errno
//     ops: a Float64Array of count records of OP_FIELDS numbers:
//            [kind (0 read, 1 write), fd, offset in file, address, length, address 2, length 2]
//          a record with length 2 > 0 becomes a two-segment readv/writev
//     results: an Int32Array of >= count: bytes done, or a negative errno, per record
//     A record outside the memory gets -EFAULT and is not submitted; run waits for the rest.
//   close(ring) -> closes the ring now (the finaliser does it otherwise)
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define OP_FIELDS 7
#define MAX_ENTRIES 4096

typedef struct {
  int fd;
  unsigned entries;
  void *sq_ptr;
  size_t sq_len;
  void *cq_ptr;
  size_t cq_len;
  struct io_uring_sqe *sqes;
  size_t sqes_len;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_cqe *cqes;
  struct iovec *iov; // two per entry
} ring_t;

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, submit, complete, flags, NULL, 0);
}

static void ring_close(ring_t *r) {
  if (r->fd < 0) return;
  if (r->sqes) munmap(r->sqes, r->sqes_len);
  if (r->cq_ptr && r->cq_ptr != r->sq_ptr) munmap(r->cq_ptr, r->cq_len);
  if (r->sq_ptr) munmap(r->sq_ptr, r->sq_len);
  close(r->fd);
  free(r->iov);
  r->fd = -1;
  r->sqes = NULL;
  r->cq_ptr = r->sq_ptr = NULL;
  r->iov = NULL;
}

static int ring_open(ring_t *r, unsigned entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  memset(r, 0, sizeof *r);
  r->fd = sys_setup(entries, &p);
  if (r->fd < 0) return -errno;
  r->entries = p.sq_entries;
  r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && r->cq_len > r->sq_len) r->sq_len = r->cq_len;
  r->sq_ptr = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (r->sq_ptr == MAP_FAILED) {
    int e = -errno;
    r->sq_ptr = NULL;
    ring_close(r);
    return e;
  }
  if (single) {
    r->cq_ptr = r->sq_ptr;
  } else {
    r->cq_ptr = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    if (r->cq_ptr == MAP_FAILED) {
      int e = -errno;
      r->cq_ptr = NULL;
      ring_close(r);
      return e;
    }
  }
  r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) {
    int e = -errno;
    r->sqes = NULL;
    ring_close(r);
    return e;
  }
  char *sq = r->sq_ptr;
  char *cq = r->cq_ptr;
  r->sq_head = (unsigned *)(sq + p.sq_off.head);
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  r->iov = calloc(2 * (size_t)p.sq_entries, sizeof(struct iovec));
  if (!r->iov) {
    ring_close(r);
    return -ENOMEM;
  }
  return 0;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ring_t *r = data;
  ring_close(r);
  free(r);
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "QT_INVALID_ARGUMENT", msg);
  return NULL;
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t entries = 0;
  if (argc != 1 || napi_get_value_uint32(env, argv[0], &entries) != napi_ok || entries < 1 || entries > MAX_ENTRIES)
    return throw_type(env, "uring.create: entries: expected an integer in [1, 4096]");
  ring_t *r = malloc(sizeof *r);
  if (!r) return number(env, -ENOMEM);
  int e = ring_open(r, entries);
  if (e < 0) {
    free(r);
    return number(env, e);
  }
  napi_value out;
  if (napi_create_external(env, r, finalize, NULL, &out) != napi_ok) {
    ring_close(r);
    free(r);
    return throw_type(env, "uring.create: could not wrap the ring");
  }
  return out;
}

static ring_t *ring_arg(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, length, data, &ab, &off) != napi_ok || t != want) return 0;
  return *data != NULL || *length == 0;
}

/** Fills one SQE from a record; false (and *res set) when the record is refused. */
static int prepare(ring_t *r, struct io_uring_sqe *sqe, unsigned slot, const double *op, uint8_t *mem, size_t memLen,
                   int32_t *res) {
  const double kind = op[0], fd = op[1], pos = op[2], a1 = op[3], l1 = op[4], a2 = op[5], l2 = op[6];
  if ((kind != 0 && kind != 1) || fd < 0 || fd > 0x7fffffff || pos < 0 || pos > 9007199254740991.0) {
    *res = -EINVAL;
    return 0;
  }
  // SAFETY: both segments are checked to lie inside the host memory before the kernel sees them.
  if (a1 < 0 || l1 <= 0 || l1 > 0x7fffffff || a1 + l1 > (double)memLen || a2 < 0 || l2 < 0 || l2 > 0x7fffffff ||
      (l2 > 0 && a2 + l2 > (double)memLen)) {
    *res = -EFAULT;
    return 0;
  }
  memset(sqe, 0, sizeof *sqe);
  sqe->fd = (int)fd;
  sqe->off = (uint64_t)pos;
  if (l2 > 0) {
    struct iovec *iov = &r->iov[2 * slot];
    iov[0].iov_base = mem + (size_t)a1;
    iov[0].iov_len = (size_t)l1;
    iov[1].iov_base = mem + (size_t)a2;
    iov[1].iov_len = (size_t)l2;
    sqe->opcode = kind == 0 ? IORING_OP_READV : IORING_OP_WRITEV;
    sqe->addr = (uint64_t)(uintptr_t)iov;
    sqe->len = 2;
  } else {
    sqe->opcode = kind == 0 ? IORING_OP_READ : IORING_OP_WRITE;
    sqe->addr = (uint64_t)(uintptr_t)(mem + (size_t)a1);
    sqe->len = (uint32_t)l1;
  }
  return 1;
}

static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5) return throw_type(env, "uring.run: expects (ring, memory, ops, count, results)");
  ring_t *r = ring_arg(env, argv[0]);
  if (!r || r->fd < 0) return throw_type(env, "uring.run: ring: expected an open ring from create()");
  uint8_t *mem;
  size_t memLen;
  double *ops;
  size_t opsLen;
  int32_t *res;
  size_t resLen;
  uint32_t count;
  if (!typed(env, argv[1], napi_uint8_array, (void **)&mem, &memLen))
    return throw_type(env, "uring.run: memory: expected a Uint8Array");
  if (!typed(env, argv[2], napi_float64_array, (void **)&ops, &opsLen))
    return throw_type(env, "uring.run: ops: expected a Float64Array");
  if (!typed(env, argv[4], napi_int32_array, (void **)&res, &resLen))
    return throw_type(env, "uring.run: results: expected an Int32Array");
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok || (size_t)count * OP_FIELDS > opsLen || count > resLen)
    return throw_type(env, "uring.run: count: expected an integer no larger than ops and results hold");
  uint32_t done = 0;
  uint32_t next = 0;
  while (next < count) {
    // One submission of up to `entries` records, then wait for all of them.
    unsigned tail = *r->sq_tail;
    unsigned mask = *r->sq_mask;
    unsigned queued = 0;
    while (next < count && queued < r->entries) {
      unsigned idx = tail & mask;
      if (prepare(r, &r->sqes[idx], idx, ops + (size_t)next * OP_FIELDS, mem, memLen, &res[next])) {
        r->sqes[idx].user_data = next;
        r->sq_array[idx] = idx;
        tail++;
        queued++;
      } else {
        done++;
      }
      next++;
    }
    __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
    unsigned reaped = 0;
    unsigned toSubmit = queued;
    while (reaped < queued) {
      int n = sys_enter(r->fd, toSubmit, queued - reaped, IORING_ENTER_GETEVENTS);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EBUSY) continue;
        return number(env, -errno);
      }
      toSubmit -= (unsigned)n < toSubmit ? (unsigned)n : toSubmit;
      unsigned head = *r->cq_head;
      unsigned ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
      unsigned cmask = *r->cq_mask;
      while (head != ctail) {
        struct io_uring_cqe *cqe = &r->cqes[head & cmask];
        uint64_t i = cqe->user_data;
        if (i < count) res[i] = cqe->res;
        head++;
        reaped++;
      }
      __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
    done += reaped;
  }
  return number(env, done);
}

static napi_value close_ring(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ring_t *r = argc == 1 ? ring_arg(env, argv[0]) : NULL;
  if (!r) return throw_type(env, "uring.close: ring: expected a ring from create()");
  ring_close(r);
  return NULL;
}

// ---- mapped files ---------------------------------------------------------------------------

typedef struct {
  uint8_t *base;
  size_t len;
} mapping_t;

// The copy in progress on this thread, where a SIGBUS inside it jumps back to.
static __thread sigjmp_buf *guard;
static struct sigaction previous_bus;

static void on_bus(int sig, siginfo_t *info, void *uctx) {
  if (guard) siglongjmp(*guard, 1);
  // Not ours: hand it to whoever had SIGBUS before, or take the default action.
  if (previous_bus.sa_flags & SA_SIGINFO) {
    previous_bus.sa_sigaction(sig, info, uctx);
  } else if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
    previous_bus.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  }
}

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void install_guard(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_bus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous_bus);
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mapping_t *m = data;
  if (m->base) munmap(m->base, m->len);
  free(m);
}

static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  double bytes = 0;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_double(env, argv[1], &bytes) != napi_ok || !(bytes >= 1) || bytes > 281474976710656.0)
    return throw_type(env, "diskIo.mapFile: expects (fd >= 0, bytes in [1, 2^48])");
  mapping_t *m = calloc(1, sizeof *m);
  if (!m) return number(env, -ENOMEM);
  m->len = (size_t)bytes;
  void *p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = -errno;
    free(m);
    return number(env, e);
  }
  m->base = p;
  napi_value out;
  if (napi_create_external(env, m, finalize_mapping, NULL, &out) != napi_ok) {
    munmap(p, m->len);
    free(m);
    return throw_type(env, "diskIo.mapFile: could not wrap the mapping");
  }
  return out;
}

static mapping_t *mapping_arg(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

static napi_value unmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mapping_t *m = argc == 1 ? mapping_arg(env, argv[0]) : NULL;
  if (!m) return throw_type(env, "diskIo.unmapFile: mapping: expected a mapping from mapFile()");
  if (m->base) munmap(m->base, m->len);
  m->base = NULL;
  m->len = 0;
  return NULL;
}

// Writes of whole chunks go to file pages nothing will read soon: stream them past the cache
// (no read-for-ownership of the destination lines, no eviction of what the worker works on).
#define STREAM_MIN (16u << 10)

static void copy_to_file(uint8_t *dst, const uint8_t *src, size_t len) {
#if defined(__x86_64__)
  if (len >= STREAM_MIN) {
    size_t head = (16 - ((uintptr_t)dst & 15)) & 15;
    memcpy(dst, src, head);
    dst += head;
    src += head;
    len -= head;
    size_t n = len & ~(size_t)63;
    for (size_t i = 0; i < n; i += 64) {
      __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
      __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
      __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
      __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
      _mm_stream_si128((__m128i *)(dst + i), a);
      _mm_stream_si128((__m128i *)(dst + i + 16), b);
      _mm_stream_si128((__m128i *)(dst + i + 32), c);
      _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    _mm_sfence();
    memcpy(dst + n, src + n, len - n);
    return;
  }
#endif
  memcpy(dst, src, len);
}

/** copyIn / copyOut: one guarded memcpy between a mapping and host memory. */
static napi_value copy(napi_env env, napi_callback_info info, int out) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mapping_t *m = argc == 5 ? mapping_arg(env, argv[0]) : NULL;
  uint8_t *mem;
  size_t memLen;
  double addr, pos, len;
  if (!m || !typed(env, argv[1], napi_uint8_array, (void **)&mem, &memLen) ||
      napi_get_value_double(env, argv[2], &addr) != napi_ok || napi_get_value_double(env, argv[3], &pos) != napi_ok ||
      napi_get_value_double(env, argv[4], &len) != napi_ok)
    return throw_type(env, "diskIo.copy: expects (mapping, Uint8Array, address, fileOffset, length)");
  if (!m->base) return number(env, -EBADF);
  // SAFETY: both ranges are checked against the memory and the mapping before the copy.
  if (!(addr >= 0) || !(pos >= 0) || !(len >= 0) || addr + len > (double)memLen || pos + len > (double)m->len)
    return number(env, -EFAULT);
  uint8_t *file = m->base + (size_t)pos;
  uint8_t *host = mem + (size_t)addr;
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0)) {
    guard = NULL;
    return number(env, -EIO);
  }
  guard = &jb;
  if (out) copy_to_file(file, host, (size_t)len);
  else memcpy(host, file, (size_t)len);
  guard = NULL;
  return number(env, 0);
}

static napi_value copy_in(napi_env env, napi_callback_info info) { return copy(env, info, 0); }

static napi_value copy_out(napi_env env, napi_callback_info info) { return copy(env, info, 1); }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_ring, NULL, NULL, NULL, napi_default, NULL},
      {"mapFile", NULL, map_file, NULL, NULL, NULL, napi_default, NULL},
      {"unmapFile", NULL, unmap_file, NULL, NULL, NULL, napi_default, NULL},
      {"copyIn", NULL, copy_in, NULL, NULL, NULL, napi_default, NULL},
      {"copyOut", NULL, copy_out, NULL, NULL, NULL, napi_default, NULL},
  };
  pthread_once(&guard_once, install_guard);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(qt_disk_io, init)
