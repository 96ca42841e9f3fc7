/*
 * Force-included into every translation unit (binding.gyp: -include). Keeps the addon
 * loadable on glibc 2.28 (the floor of Node 18's own Linux binaries) when it is built on a
 * newer glibc (Debian 12: 2.36). No logic of procguard changes here; this only decides which
 * glibc symbol versions the link records. `npm run check:abi` verifies the result.
 *
 * 1. procguard's own code: a function that a newer glibc gave a new version is bound with
 *    .symver to the version that 2.28 has.
 * 2. The static libstdc++ and libgcc_eh (binding.gyp links them statically, so no
 *    GLIBCXX_/CXXABI_ symbol is needed) were compiled against glibc 2.36 and reference
 *    symbols that 2.28 lacks. Their references bind, at link time, to the definitions below
 *    (hidden, weak: never exported, never in conflict) instead of to libc.so.6's new versions.
 *    They are emitted in C translation units only (native/child.c), once the declarations
 *    they need are at hand; a weak definition may appear in several.
 *
 * Only for glibc on x86_64 and aarch64 (the prebuilt targets), and only with glibc 2.32+
 * headers (older ones bind to old versions by themselves). Elsewhere (musl, other
 * architectures, whose base version names differ) this file does nothing.
 * -DPROCGUARD_NO_GLIBC_COMPAT turns it off.
 */
#ifndef PROCGUARD_GLIBC_COMPAT_H
#define PROCGUARD_GLIBC_COMPAT_H

#include <features.h>

#if defined(__GLIBC__) && !defined(PROCGUARD_NO_GLIBC_COMPAT) && (defined(__x86_64__) || defined(__aarch64__))
#if __GLIBC_PREREQ(2, 32) /* a separate #if: musl has no __GLIBC_PREREQ */

#if defined(__x86_64__)
#define PROCGUARD_GLIBC_BASE "GLIBC_2.2.5"
#else
#define PROCGUARD_GLIBC_BASE "GLIBC_2.17"
#endif

/*
 * pthread_sigmask: glibc 2.32 moved it from libpthread into libc as pthread_sigmask@GLIBC_2.32.
 * The base version (in libpthread before 2.34, in libc since) is the same function, and every
 * Node process on such a glibc has libpthread loaded (Node's binaries link it).
 */
__asm__(".symver pthread_sigmask, pthread_sigmask@" PROCGUARD_GLIBC_BASE);
/* pthread_create, pthread_join (native/exit_thread.cc, the guard's thread in native/guard/),
 * pthread_attr_setstack (the guard's locked stack): new versions in glibc 2.34's merge; the base
 * versions are the same functions. */
__asm__(".symver pthread_create, pthread_create@" PROCGUARD_GLIBC_BASE);
__asm__(".symver pthread_join, pthread_join@" PROCGUARD_GLIBC_BASE);
__asm__(".symver pthread_attr_setstack, pthread_attr_setstack@" PROCGUARD_GLIBC_BASE);

#ifndef __cplusplus
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROCGUARD_COMPAT __attribute__((weak, visibility("hidden")))

/*
 * pthread_once, __pthread_key_create (libgcc's unwinder; libstdc++'s thread checks): glibc
 * 2.34 merged libpthread into libc with new versions. Forward to the base versions.
 */
extern int procguard_base_pthread_once(pthread_once_t *, void (*)(void));
__asm__(".symver procguard_base_pthread_once, pthread_once@" PROCGUARD_GLIBC_BASE);
PROCGUARD_COMPAT int pthread_once(pthread_once_t *once, void (*init)(void)) {
  return procguard_base_pthread_once(once, init);
}

extern int procguard_base_pthread_key_create(pthread_key_t *, void (*)(void *));
__asm__(".symver procguard_base_pthread_key_create, __pthread_key_create@" PROCGUARD_GLIBC_BASE);
PROCGUARD_COMPAT int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  return procguard_base_pthread_key_create(key, destructor);
}

/*
 * __libc_single_threaded (glibc 2.32; libstdc++'s reference counts skip atomics when it is
 * set). Here it is always 0: always the atomic path, which is correct in every process.
 */
PROCGUARD_COMPAT char __libc_single_threaded = 0;

/*
 * arc4random (glibc 2.36; std::random_device, which procguard never uses but which the static
 * libstdc++ links in): the kernel's getrandom, else /dev/urandom.
 */
PROCGUARD_COMPAT uint32_t arc4random(void) {
  uint32_t value;
  size_t got = 0;
  while (got < sizeof value) {
    long r = syscall(SYS_getrandom, (char *)&value + got, sizeof value - got, 0);
    if (r > 0) {
      got += (size_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (got == sizeof value) return value;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    got = 0;
    while (got < sizeof value) {
      ssize_t r = read(fd, (char *)&value + got, sizeof value - got);
      if (r > 0) got += (size_t)r;
      else if (!(r < 0 && errno == EINTR)) break;
    }
    close(fd);
    if (got == sizeof value) return value;
  }
  abort();
}

/*
 * _dl_find_object (glibc 2.35): libgcc's unwinder finds a frame's unwind tables with it when
 * it was built on 2.35+, with no fallback. The same answer through dl_iterate_phdr, which is
 * how the unwinder worked before: the object whose PT_LOAD segments hold pc, and its
 * PT_GNU_EH_FRAME. (dlfo_eh_dbase does not exist on x86_64 and aarch64.)
 */
#ifdef DLFO_STRUCT_HAS_EH_DBASE /* <dlfcn.h> of glibc 2.35+: struct dl_find_object */
struct procguard_dlfo_search {
  uintptr_t pc;
  struct dl_find_object *result;
  int found;
};

static int procguard_dlfo_callback(struct dl_phdr_info *info, size_t size, void *data) {
  struct procguard_dlfo_search *search = (struct procguard_dlfo_search *)data;
  uintptr_t low = UINTPTR_MAX, high = 0;
  void *eh_frame = NULL;
  int contains = 0;
  (void)size;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
      if (start < low) low = start;
      if (end > high) high = end;
      if (search->pc >= start && search->pc < end) contains = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh_frame = (void *)(info->dlpi_addr + ph->p_vaddr);
    }
  }
  if (!contains) return 0;
  search->result->dlfo_flags = 0;
  search->result->dlfo_map_start = (void *)low;
  search->result->dlfo_map_end = (void *)high;
  search->result->dlfo_link_map = NULL;
  search->result->dlfo_eh_frame = eh_frame;
  search->found = 1;
  return 1;
}

PROCGUARD_COMPAT int _dl_find_object(void *pc, struct dl_find_object *result) {
  struct procguard_dlfo_search search = {(uintptr_t)pc, result, 0};
  dl_iterate_phdr(procguard_dlfo_callback, &search);
  return search.found ? 0 : -1;
}
#endif /* DLFO_STRUCT_HAS_EH_DBASE */

#undef PROCGUARD_COMPAT
#endif /* !__cplusplus */

#undef PROCGUARD_GLIBC_BASE
#endif /* glibc 2.32+ */
#endif /* glibc on x86_64 or aarch64 */

#endif /* PROCGUARD_GLIBC_COMPAT_H */
