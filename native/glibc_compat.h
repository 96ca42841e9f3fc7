/*
 * Force-included into every translation unit (binding.gyp: -include). Keeps the addon
 * loadable on glibc 2.28 (the floor of Node 18's own Linux binaries) when it is built on a
 * newer glibc: a symbol that a newer glibc gave a new version is bound here to the version
 * that exists in 2.28. No code changes; only which symbol version the link records.
 * `npm run check:abi` verifies the result (scripts/check-abi.js).
 *
 * Only for glibc on x86_64 and aarch64 (the prebuilt targets), and only when the headers are
 * from glibc 2.32 or later (older ones bind to the old version by themselves). Elsewhere
 * (musl, other architectures, whose base version names differ) this file does nothing.
 */
#ifndef PROCGUARD_GLIBC_COMPAT_H
#define PROCGUARD_GLIBC_COMPAT_H

#include <features.h>

#if defined(__GLIBC__) && !defined(PROCGUARD_NO_GLIBC_COMPAT)
#if __GLIBC_PREREQ(2, 32)

#if defined(__x86_64__)
#define PROCGUARD_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define PROCGUARD_GLIBC_BASE "GLIBC_2.17"
#endif

#ifdef PROCGUARD_GLIBC_BASE
/*
 * pthread_sigmask: glibc 2.32 moved it from libpthread into libc as pthread_sigmask@GLIBC_2.32.
 * The base version (in libpthread before 2.34, in libc since) is the same function, and every
 * Node process on such a glibc has libpthread loaded.
 */
__asm__(".symver pthread_sigmask, pthread_sigmask@" PROCGUARD_GLIBC_BASE);
#endif

#undef PROCGUARD_GLIBC_BASE
#endif /* glibc >= 2.32 */
#endif /* __GLIBC__ */

#endif /* PROCGUARD_GLIBC_COMPAT_H */
