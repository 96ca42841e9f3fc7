/* Kernel interfaces newer than the oldest kernel and C library procguard supports: called
 * through syscall() with these numbers (never as glibc wrappers, which would raise the glibc
 * symbol floor), each with a fallback where the kernel answers ENOSYS or EINVAL. */
#ifndef PROCGUARD_LINUX_COMPAT_H
#define PROCGUARD_LINUX_COMPAT_H

#include <sys/syscall.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000 /* Linux 5.2 */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424 /* Linux 5.1 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3 */
#endif
/* waitid's idtype for a pidfd (Linux 5.4). Our own name: glibc has P_PIDFD as an enum member. */
#define PG_P_PIDFD 3
#ifndef SYS_close_range
#define SYS_close_range 436 /* Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11 */
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* IO priority (Linux 2.6.13): glibc has neither a wrapper nor the constants. */
#ifndef SYS_ioprio_set
#if defined(__x86_64__)
#define SYS_ioprio_set 251
#elif defined(__aarch64__)
#define SYS_ioprio_set 30
#endif
#endif
#define PG_IOPRIO_WHO_PROCESS 1

/* clone3's arguments (Linux 5.3; `cgroup` since 5.7), as the kernel's uapi lays them out. */
#include <stdint.h>
struct pg_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define PG_CLONE_INTO_CGROUP 0x200000000ULL
#define PG_CGROUP2_SUPER_MAGIC 0x63677270


#endif
