/* The child, between clone and execve.
 *
 * This runs either in a CLONE_VM|CLONE_VFORK child, sharing the agent's memory while the
 * agent's thread is suspended, or (rarely) in a child with its own address space. In both
 * cases the rules are those of a vfork child: raw system calls only, no allocation, no locks,
 * no stdio, nothing that touches state the agent could be using. The addon is linked with
 * -z now, so no call here goes through the lazy-binding resolver (which takes a lock).
 *
 * The steps run top to bottom in this order; each says why it is where it is. Any failure is
 * written to the report pipe as { step, errno } before _exit(127), and the parent turns it into
 * the same error Node would give. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "child.h"
#include "linux_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>


/* The kernel's own sigaction layout: glibc's wrapper refuses its two internal signals, and
 * every disposition has to go back to default. */
struct kernel_sigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  unsigned long mask;
};

/* System calls set errno in the TLS of the agent's suspended thread; read it at once. */
static long call(long nr, long a, long b, long c, long d) {
  long r = syscall(nr, a, b, c, d);
  return r < 0 ? -errno : r;
}

static void report(int fd, int step, int err, int fatal) {
  struct pg_report rec = { step, err, fatal };
  /* A short record on an empty pipe: atomic, and it cannot block. */
  call(SYS_write, fd, (long)&rec, sizeof rec, 0);
}

static void __attribute__((noreturn)) fail(const struct pg_child_plan *plan, int step, int err) {
  report(plan->report_fd, step, err, 1);
  syscall(SYS_exit_group, 127);
  for (;;) {
  }
}

/* A priority step that failed: fatal under strict, otherwise a warning and we carry on. */
static void priority_failed(const struct pg_child_plan *plan, int step, int err) {
  if (plan->strict) fail(plan, step, err);
  report(plan->report_fd, step, err, 0);
}

/* Moves every fd the child must not keep onto close-on-exec. */
static int cloexec_from(int first) {
  if (call(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC, 0) == 0) return 0;
  /* Kernels before 5.11: walk /proc/self/fd with a buffer on our own stack. */
  int dir = (int)call(SYS_openat, AT_FDCWD, (long)"/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir < 0) {
    for (int fd = first; fd < 65536; fd++) call(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC, 0);
    return 0;
  }
  char buf[1024];
  for (;;) {
    long n = call(SYS_getdents64, dir, (long)buf, sizeof buf, 0);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
      unsigned short reclen = *(unsigned short *)(buf + off + 16);
      const char *name = buf + off + 19;
      int fd = 0, digits = 0;
      for (; *name >= '0' && *name <= '9'; name++, digits++) fd = fd * 10 + (*name - '0');
      if (digits > 0 && *name == '\0' && fd >= first && fd != dir) call(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC, 0);
      off += reclen;
    }
  }
  call(SYS_close, dir, 0, 0, 0);
  return 0;
}

/* clone3() with a new stack: the child starts on that stack right after the system call, so
 * it cannot return into C. This trampoline calls fn(arg) there and exits with its result
 * (pg_child_main never returns). Returns the child's pid, or -errno, in the parent. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl pg_clone3\n"
        ".hidden pg_clone3\n"
        ".type pg_clone3,@function\n"
        "pg_clone3:\n"
        "  mov %rdx, %r8\n"        /* fn: r8 and r9 survive the syscall, in both processes */
        "  mov %rcx, %r9\n"        /* arg */
        "  mov $435, %eax\n"       /* SYS_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"       /* the child: no frame to return to */
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  mov %eax, %edi\n"
        "  mov $231, %eax\n"       /* SYS_exit_group */
        "  syscall\n"
        "  hlt\n"
        "1: ret\n"
        ".size pg_clone3, .-pg_clone3\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl pg_clone3\n"
        ".hidden pg_clone3\n"
        ".type pg_clone3,%function\n"
        "pg_clone3:\n"
        "  mov x9, x2\n"           /* fn */
        "  mov x10, x3\n"          /* arg */
        "  mov x8, #435\n"         /* SYS_clone3 */
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, xzr\n"         /* the child: no frame to return to */
        "  mov x30, xzr\n"
        "  mov x0, x10\n"
        "  blr x9\n"
        "  mov x8, #94\n"          /* SYS_exit_group */
        "  svc #0\n"
        "  brk #0\n"
        "1: ret\n"
        ".size pg_clone3, .-pg_clone3\n");
#endif

int pg_child_main(void *arg) {
  /* The plan is the child's scratch: the parent does not read it after clone. */
  struct pg_child_plan *plan = (struct pg_child_plan *)arg;
  long r;

  /* 1. Signals. The agent blocked every signal around clone, so none of its handlers can run
   *    on this stack. Put every disposition back to default before anything else: Node ignores
   *    SIGPIPE, and an ignored disposition survives exec (`yes | head -1` would never end). */
  struct kernel_sigaction dfl = { SIG_DFL, 0, NULL, 0 };
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    call(SYS_rt_sigaction, sig, (long)&dfl, 0, 8);
  }

  /* 2. A new session for `detached`, first, so the command is never in the agent's process
   *    group for a moment where a terminal's signal could reach it. */
  if (plan->detached && (r = call(SYS_setsid, 0, 0, 0, 0)) < 0) fail(plan, PG_STEP_SETSID, (int)-r);

  /* 3. The child's own cgroups (one per hierarchy on a hybrid host), written "0" = this thread.
   *    Before anything else the command could do: it never runs outside its memory cap. Sharing
   *    the agent's memory until exec is fine, since memory is charged to the mm's owner (the
   *    agent); the command's own mm, from exec on, is charged here. On v1 the file is `tasks`:
   *    this child is one thread, so moving the thread moves the process, and the kernel then
   *    skips the global threadgroup lock that a cgroup.procs write takes (whose writer can wait
   *    for an RCU grace period: milliseconds, with the agent blocked in vfork meanwhile). */
  for (int i = 0; i < plan->ncgroup_fds; i++) {
    r = call(SYS_write, plan->cgroup_fds[i], (long)"0", 1, 0);
    if (r < 0) fail(plan, PG_STEP_CGROUP, (int)-r);
  }

  /* 4. Nice, before the credentials change: lowering it needs CAP_SYS_NICE, which a change of
   *    uid drops. Nice is per thread; this child has one thread, and exec keeps it. */
  if (plan->set_nice) {
    r = call(SYS_setpriority, PRIO_PROCESS, 0, plan->nice, 0);
    if (r < 0) priority_failed(plan, PG_STEP_SETPRIORITY, (int)-r);
  }

  /* 5. oom_score_adj, also before the credentials change: going below the agent's floor needs
   *    CAP_SYS_RESOURCE, and a changed euid makes the process non-dumpable, which makes
   *    /proc/self root-owned. A CLONE_VFORK child's write applies to itself alone; a CLONE_VM
   *    child without CLONE_VFORK would also change the agent (the kernel updates every process
   *    sharing the mm), which is why CLONE_VFORK is never dropped. */
  if (plan->set_oom_score_adj) {
    /* The dumpable flag belongs to the address space: toggling it is only done when this child
     *  has its own, and it goes back to 0 right after. */
    if (plan->toggle_dumpable) call(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0);
    int fd = (int)call(SYS_openat, AT_FDCWD, (long)"/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC, 0);
    r = fd;
    if (fd >= 0) {
      r = call(SYS_write, fd, (long)plan->oom_score_adj_text, plan->oom_score_adj_len, 0);
      call(SYS_close, fd, 0, 0, 0);
    }
    if (plan->toggle_dumpable) call(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0);
    if (r < 0) priority_failed(plan, PG_STEP_OOM_SCORE_ADJ, (int)-r);
  }

  /* 6. The working directory, with the agent's credentials, as Node does. */
  if (plan->cwd && (r = call(SYS_chdir, (long)plan->cwd, 0, 0, 0)) < 0) fail(plan, PG_STEP_CHDIR, (int)-r);

  /* 7. Stdio. A source fd may sit on a number an earlier dup2 will overwrite (and so may the
   *    report pipe), so first lift every such fd above the child's table. */
  int n = plan->nstdio;
  int report_fd = plan->report_fd;
  if (report_fd < n) {
    r = call(SYS_fcntl, report_fd, F_DUPFD_CLOEXEC, n, 0);
    if (r < 0) fail(plan, PG_STEP_STDIO, (int)-r);
    plan->report_fd = report_fd = (int)r; /* later reports go to the lifted copy */
  }
  for (int i = 0; i < n; i++) {
    int src = plan->stdio_src[i];
    if (src >= 0 && src < n && src != i) {
      r = call(SYS_fcntl, src, F_DUPFD_CLOEXEC, n, 0);
      if (r < 0) fail(plan, PG_STEP_STDIO, (int)-r);
      for (int j = i; j < n; j++)
        if (plan->stdio_src[j] == src) plan->stdio_src[j] = (int)r;
    }
  }
  for (int i = 0; i < n; i++) {
    int src = plan->stdio_src[i];
    if (src == i)
      r = call(SYS_fcntl, i, F_SETFD, 0, 0); /* the agent's own fd i: just let it survive exec */
    else if (src >= 0)
      r = call(SYS_dup3, src, i, 0, 0); /* the new fd i is not close-on-exec */
    else
      r = (call(SYS_close, i, 0, 0, 0), 0);
    if (r < 0) fail(plan, PG_STEP_STDIO, (int)-r);
    /* A program expects blocking stdio; a stream of the agent's (a socket libuv made
     * non-blocking) would give it EAGAIN. The flag is the open file's, as with libuv. */
    if (src >= 0 && i <= 2) {
      long flags = call(SYS_fcntl, i, F_GETFL, 0, 0);
      if (flags >= 0 && (flags & O_NONBLOCK)) call(SYS_fcntl, i, F_SETFL, flags & ~O_NONBLOCK, 0);
    }
  }
  /* No other descriptor survives exec: the agent's sockets, files and pipes stay its own. */
  cloexec_from(n);

  /* 8. Scheduling policy and IO priority, as late as possible and before the credentials change.
   *    Late: the agent's thread stays suspended (CLONE_VFORK) until exec, and once this child is
   *    SCHED_IDLE or in the idle IO class, whatever it still has to do waits behind the whole
   *    machine while the agent waits for it; so after chdir (a path lookup on a possibly busy
   *    disk) and stdio, leaving only the credentials and exec's own loading of the program.
   *    Before the credentials change: leaving SCHED_IDLE needs CAP_SYS_NICE or RLIMIT_NICE, and a
   *    change of uid drops the capability. Same failure rule as nice: a warning, fatal if strict.
   *    The policy's priority must be 0 outside the real-time classes; the kernel keeps the nice
   *    set in step 4 (SCHED_BATCH honours it, SCHED_IDLE ignores it). The IO priority is this
   *    task's own io_context (clone without CLONE_IO does not share the agent's), kept by exec. */
  if (plan->set_sched_policy) {
    struct sched_param param = { 0 };
    r = call(SYS_sched_setscheduler, 0, plan->sched_policy, (long)&param, 0);
    if (r < 0) priority_failed(plan, PG_STEP_SCHED_POLICY, (int)-r);
  }
  if (plan->set_ioprio) {
    r = call(SYS_ioprio_set, PG_IOPRIO_WHO_PROCESS, 0, plan->ioprio, 0);
    if (r < 0) priority_failed(plan, PG_STEP_IOPRIO, (int)-r);
  }

  /* 9. Credentials, last of the privileged steps. Raw calls: glibc's wrappers would broadcast
   *    the change to every thread of the agent (they share this memory). */
  if (plan->set_uid || plan->set_gid) {
    /* Drop the agent's supplementary groups; failing is harmless when unprivileged. */
    call(SYS_setgroups, 0, 0, 0, 0);
  }
  if (plan->set_gid && (r = call(SYS_setgid, plan->gid, 0, 0, 0)) < 0) fail(plan, PG_STEP_SETGID, (int)-r);
  if (plan->set_uid && (r = call(SYS_setuid, plan->uid, 0, 0, 0)) < 0) fail(plan, PG_STEP_SETUID, (int)-r);

  /* 10. Unblock everything: the command starts with an empty signal mask. */
  unsigned long empty = 0;
  call(SYS_rt_sigprocmask, SIG_SETMASK, (long)&empty, 0, 8);

  /* 11. execve, searching the candidates the parent built from PATH, with execvp's rules:
   *     keep looking past a missing file, remember a permission error, retry a file without
   *     a #! line through /bin/sh. */
  int err = ENOENT, saw_eacces = 0;
  for (const char *const *c = plan->candidates; *c; c++) {
    r = call(SYS_execve, (long)*c, (long)plan->argv, (long)plan->envp, 0);
    err = (int)-r;
    if (err == ENOEXEC) {
      plan->shell_argv[1] = (char *)*c;
      r = call(SYS_execve, (long)plan->shell_argv[0], (long)plan->shell_argv, (long)plan->envp, 0);
      err = (int)-r;
    }
    if (err == EACCES) {
      saw_eacces = 1;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT) continue;
    break;
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT))
    err = EACCES;
  fail(plan, PG_STEP_EXECVE, err);
}
