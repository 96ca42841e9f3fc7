// Baseline for scripts/bench.js: the cost of spawning /bin/true from C with glibc's posix_spawn
// (clone(CLONE_VM|CLONE_VFORK) since glibc 2.24, so it does not copy page tables) and reaping it
// with waitpid, while this process holds a given amount of touched memory.
//
// Usage: posix_spawn_loop <iterations> <resident MiB> [--devnull]
//   --devnull: the child's fds 0-2 are /dev/null, as with stdio 'ignore' in Node.
// Prints one JSON line: per-spawn microseconds (median, p90, ...) and this process's VmRSS.
//
// Built at run time by bench.js: cc -O2 -o .cache/posix_spawn_loop scripts/posix_spawn_loop.c
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum { WARMUP_SPAWNS = 20, MAX_ITERATIONS = 100000 };

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Same interpolation as quantile() in scripts/bench-lib.js.
static double quantile(const double *sorted, long n, double q) {
  double pos = (n - 1) * q;
  long lo = (long)pos, hi = lo + (pos > lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

static long vm_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 300;
  long resident_mib = argc > 2 ? atol(argv[2]) : 50;
  int devnull = argc > 3 && strcmp(argv[3], "--devnull") == 0;
  if (iterations < 1 || iterations > MAX_ITERATIONS || resident_mib < 0) {
    fprintf(stderr, "usage: %s <iterations 1..%d> <resident MiB> [--devnull]\n", argv[0], MAX_ITERATIONS);
    return 2;
  }

  // Top up to the requested VmRSS, writing every byte so the pages are resident.
  long missing_kb = resident_mib * 1024 - vm_rss_kb();
  char *ballast = NULL;
  if (missing_kb > 0) {
    size_t bytes = (size_t)missing_kb * 1024;
    ballast = malloc(bytes);
    if (!ballast) { perror("malloc"); return 1; }
    memset(ballast, 0x5a, bytes);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (devnull) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }

  char *child_argv[] = {"/bin/true", NULL};
  double *samples = calloc(iterations, sizeof *samples);
  if (!samples) { perror("calloc"); return 1; }

  for (long i = 0; i < WARMUP_SPAWNS + iterations; i++) {
    pid_t pid;
    int status;
    double start = now_us();
    int err = posix_spawn(&pid, child_argv[0], &actions, NULL, child_argv, environ);
    if (err) { fprintf(stderr, "posix_spawn: %s\n", strerror(err)); return 1; }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child %d did not exit 0 (status 0x%x)\n", (int)pid, status);
      return 1;
    }
    if (i >= WARMUP_SPAWNS) samples[i - WARMUP_SPAWNS] = now_us() - start;
  }

  double sum = 0;
  for (long i = 0; i < iterations; i++) sum += samples[i];
  qsort(samples, iterations, sizeof *samples, compare_doubles);
  printf("{\"iterations\":%ld,\"residentMiB\":%ld,\"devnull\":%s,\"vmRssBytes\":%ld,"
         "\"us\":{\"n\":%ld,\"min\":%.1f,\"median\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f}}\n",
         iterations, resident_mib, devnull ? "true" : "false", vm_rss_kb() * 1024, iterations, samples[0],
         quantile(samples, iterations, 0.5), quantile(samples, iterations, 0.9),
         quantile(samples, iterations, 0.99), samples[iterations - 1], sum / iterations);

  // Keep the ballast alive (and used) until the end.
  if (ballast && ballast[0] != 0x5a) return 1;
  posix_spawn_file_actions_destroy(&actions);
  free(samples);
  free(ballast);
  return 0;
}
