/* deny-syscalls NAME... -- command [args...]: runs the command under a seccomp filter that makes
 * the named system calls fail with EPERM, as a container runtime's profile or a security module
 * would. The filter is inherited by every child, so the tests can see how procguard reports a
 * priority step the kernel refused when no privilege would have helped. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

static long number_of(const char *name) {
  if (strcmp(name, "ioprio_set") == 0) return SYS_ioprio_set;
  if (strcmp(name, "sched_setscheduler") == 0) return SYS_sched_setscheduler;
  if (strcmp(name, "setpriority") == 0) return SYS_setpriority;
  return -1;
}

int main(int argc, char **argv) {
  struct sock_filter filter[64];
  int n = 0, i = 1;
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    long nr = number_of(argv[i]);
    if (nr < 0 || n > 60) {
      fprintf(stderr, "deny-syscalls: unknown system call %s\n", argv[i]);
      return 2;
    }
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  }
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  if (i + 1 >= argc) {
    fprintf(stderr, "usage: deny-syscalls NAME... -- command [args...]\n");
    return 2;
  }
  struct sock_fprog prog = { (unsigned short)n, filter };
  /* Without no_new_privs an unprivileged process may not install a filter. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("deny-syscalls: seccomp");
    return 2;
  }
  execvp(argv[i + 1], argv + i + 1);
  perror("deny-syscalls: exec");
  return 127;
}
