/* The plan a child follows between clone and exec, and the records it sends back.
 * Everything here is prepared by the parent. The plan is the child's scratch from then on
 * (it may rewrite fd numbers in it): the parent does not read it after clone. */
#ifndef PROCGUARD_CHILD_H
#define PROCGUARD_CHILD_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which step a report is about; the order is the order the child runs them in. */
enum pg_step {
  PG_STEP_SIGNALS = 1,
  PG_STEP_SETSID,
  PG_STEP_CGROUP,
  PG_STEP_SETPRIORITY,
  PG_STEP_OOM_SCORE_ADJ,
  PG_STEP_CHDIR,
  PG_STEP_STDIO,
  PG_STEP_SCHED_POLICY,
  PG_STEP_IOPRIO,
  PG_STEP_SETGROUPS,
  PG_STEP_SETGID,
  PG_STEP_SETUID,
  PG_STEP_EXECVE
};

/* One record on the report pipe. A fatal record is the child's last word before _exit(127);
 * non-fatal ones are warnings about priority steps. */
struct pg_report {
  int step;
  int err;
  int fatal;
};

struct pg_child_plan {
  /* NULL-terminated paths to try in order (the PATH search, done by the parent). */
  const char *const *candidates;
  char *const *argv;
  char *const *envp;
  /* { "/bin/sh", <candidate>, argv[1..], NULL }: execvp's retry of a file without a #! line.
   * The child fills slot 1. */
  char **shell_argv;
  const char *cwd; /* NULL: stay where the agent is */
  int detached;
  /* Open (O_WRONLY) cgroup.procs files of the child's own cgroups, one per hierarchy. */
  int ncgroup_fds;
  const int *cgroup_fds;
  int set_gid, set_uid;
  gid_t gid;
  uid_t uid;
  /* stdio_src[i] is the agent fd that becomes the child's fd i; -1 closes fd i. */
  int nstdio;
  int *stdio_src;
  int set_nice;
  int nice;
  int set_oom_score_adj;
  char oom_score_adj_text[16]; /* preformatted: no formatting in the child */
  int oom_score_adj_len;
  int set_sched_policy;
  int sched_policy; /* SCHED_OTHER, SCHED_BATCH or SCHED_IDLE */
  int set_ioprio;
  int ioprio; /* the kernel's encoding, class << 13 | level, built by the parent */
  /* The agent is not dumpable, so /proc/self is root-owned: raise dumpable around the write.
   * Only ever set when the child has its own address space (the flag belongs to the mm). */
  int toggle_dumpable;
  int strict;    /* a failed priority step is fatal */
  int report_fd; /* write end of a CLOEXEC pipe: closes by itself at a successful exec */
};

/* The child's entry point for clone(); never returns. */
int pg_child_main(void *plan);

#if defined(__x86_64__) || defined(__aarch64__)
#define PG_HAVE_CLONE3 1
/* clone3(args, size), then fn(arg) in the child on args->stack; the child's pid or -errno. */
long pg_clone3(void *args, unsigned long size, int (*fn)(void *), void *arg);
#endif

#ifdef __cplusplus
}
#endif

#endif
