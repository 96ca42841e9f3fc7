/* Allocation-free readers of cgroup and proc files, for the guard's thread (kernel_files.h). */
#include "kernel_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

long pg_read_fd(int fd, char *buf, long size) {
  long total = 0;
  for (;;) {
    ssize_t n = pread(fd, buf + total, (size_t)(size - 1 - total), total);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0 || total + n >= size - 1) {
      total += n;
      break;
    }
    total += n;
  }
  buf[total] = '\0';
  return total;
}

static int64_t parse_digits(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  if (*p < '0' || *p > '9') return -1;
  int64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

int64_t pg_read_number(int fd, char *buf, long size) {
  if (fd < 0 || pg_read_fd(fd, buf, size) <= 0) return -1;
  if (strncmp(buf, "max", 3) == 0) return PG_UNLIMITED;
  return parse_digits(buf);
}

int64_t pg_keyed_value(const char *text, const char *key) {
  size_t len = strlen(key);
  const char *p = text;
  while (p && *p) {
    if (strncmp(p, key, len) == 0 && (p[len] == ' ' || p[len] == ':' || p[len] == '\t')) {
      const char *v = p + len + 1;
      while (*v == ' ' || *v == '\t' || *v == ':') v++;
      return parse_digits(v);
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

int64_t pg_psi_total(const char *text, const char *line) {
  size_t len = strlen(line);
  const char *p = text;
  while (p && *p) {
    if (strncmp(p, line, len) == 0 && p[len] == ' ') {
      const char *end = strchr(p, '\n');
      const char *t = strstr(p, "total=");
      if (t && (!end || t < end)) return parse_digits(t + 6);
      return -1;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

int pg_parse_pids(const char *text, pid_t *pids, int count, int max) {
  const char *p = text;
  while (*p && count < max) {
    while (*p && (*p < '0' || *p > '9')) p++;
    if (!*p) break;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    pids[count++] = (pid_t)v;
  }
  return count;
}

static long read_path(const char *path, char *buf, long size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  long n = pg_read_fd(fd, buf, size);
  close(fd);
  return n;
}

/* getdents64's record, as the kernel lays it out (glibc's readdir would malloc a DIR). */
struct pg_dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

int pg_process_tree(pid_t root, pid_t *pids, int max, char *buf, long size) {
  if (max <= 0) return 0;
  int count = 0;
  pids[count++] = root;
  /* Breadth first over the list itself: entry i's children are appended after it. */
  for (int i = 0; i < count && count < max; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pids[i]);
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) continue;
    /* The directory listing goes in the first half of buf, each children file in the second. */
    long half = size / 2;
    for (;;) {
      long n = syscall(SYS_getdents64, dir, buf, (unsigned long)half);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        struct pg_dirent64 *d = (struct pg_dirent64 *)(buf + off);
        off += d->reclen;
        if (d->name[0] < '0' || d->name[0] > '9') continue;
        char children[96];
        snprintf(children, sizeof children, "/proc/%d/task/%s/children", (int)pids[i], d->name);
        if (read_path(children, buf + half, size - half) > 0) count = pg_parse_pids(buf + half, pids, count, max);
      }
    }
    close(dir);
  }
  return count;
}

int64_t pg_process_memory(pid_t pid, char *buf, long size) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (read_path(path, buf, size) <= 0) return -1;
  int64_t rss = pg_keyed_value(buf, "VmRSS");
  int64_t swap = pg_keyed_value(buf, "VmSwap");
  if (rss < 0) return 0; /* a zombie or a kernel thread: nothing resident */
  return (rss + (swap > 0 ? swap : 0)) * 1024;
}
