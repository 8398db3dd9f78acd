/* Runs a command N times with an empty environment (or only the `-e KEY=VALUE` given before it) and stdin
 * from a file, and prints one line per run: "<wall nanoseconds> <peak RSS KiB> <exit status> <CPU microseconds>".
 * Peak RSS and CPU time (user + system) come from wait4's rusage, which Linux keeps across execve and which
 * counts the waited-for descendants too, so a hook that execs its CLI, or a runc and its hooks, is measured
 * whole. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: measure RUNS STDIN-FILE [-e KEY=VALUE]... CMD [ARGS...]\n");
    return 2;
  }
  int runs = atoi(argv[1]);
  char *envp[64];
  int n = 0, cmd = 3;
  while (cmd + 1 < argc && strcmp(argv[cmd], "-e") == 0 && n < 63) {
    envp[n++] = argv[cmd + 1];
    cmd += 2;
  }
  envp[n] = NULL;
  for (int i = 0; i < runs; i++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
      int in = open(argv[2], O_RDONLY);
      int out = open("/dev/null", O_WRONLY);
      if (in < 0 || out < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      execve(argv[cmd], argv + cmd, envp);
      _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    printf("%lld %ld %d %lld\n", ns, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
           cpu);
  }
  return 0;
}
