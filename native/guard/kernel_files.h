/* Reading the kernel's small text files without allocating: every function here takes an fd
 * opened in advance (or opens by a path built on the stack), reads into a caller's buffer with
 * pread at offset 0 (cgroupfs, procfs and kernfs restart a seq_file read there), and parses
 * numbers in place. The guard's thread calls nothing else, so it never touches the heap. */
#ifndef PROCGUARD_GUARD_KERNEL_FILES_H
#define PROCGUARD_GUARD_KERNEL_FILES_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PG_UNLIMITED INT64_MAX

/* Reads the whole file at fd into buf (NUL-terminated); the length, or -errno. */
long pg_read_fd(int fd, char *buf, long size);
/* A file holding one number ("123\n") or "max": the number, PG_UNLIMITED for "max", -1 on error. */
int64_t pg_read_number(int fd, char *buf, long size);
/* The value after `key` at the start of a line ("anon 123", "MemAvailable:  123 kB"); -1 when absent. */
int64_t pg_keyed_value(const char *text, const char *key);
/* The `total=` microseconds of the "some" or "full" line of a PSI file; -1 when absent. */
int64_t pg_psi_total(const char *text, const char *line);
/* Appends the pids listed in a cgroup.procs / children text to pids (at most max); returns the new count. */
int pg_parse_pids(const char *text, pid_t *pids, int count, int max);
/* pid and every descendant (from /proc/<pid>/task/<tid>/children), parents before children; the count. */
int pg_process_tree(pid_t root, pid_t *pids, int max, char *buf, long size);
/* VmRSS + VmSwap of one process, in bytes; -1 when it is gone. */
int64_t pg_process_memory(pid_t pid, char *buf, long size);

#ifdef __cplusplus
}
#endif

#endif
