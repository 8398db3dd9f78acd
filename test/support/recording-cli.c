/* A stand-in for ascend-docker-cli: records exactly what it was given, as JSON, to $ADH_RECORD (or, when
 * that is unset, to record.json next to itself)
 * (argv with argv[0], environ, whether fds 0-2 are O_NONBLOCK, and whether --pid names a live process in
 * another mount namespace), then exits with $ADH_EXIT (default 0). A compiled program keeps argv[0];
 * a #! script would lose it.
 *
 * Built with -DCLI_2023 it is the CLI Huawei ships since March 2023: before recording anything it parses
 * its argv with getopt_long and exactly that CLI's six options (--allow-link True|False, --pid, --rootfs,
 * --options NODRV|VIRTUAL|NODRV,VIRTUAL, --mount-file, --mount-dir; no --devices) and fails, exit 1,
 * recording nothing, on anything else, as the real one does. */
#include <fcntl.h>
#ifdef CLI_2023
#include <getopt.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static void put_array(FILE *f, const char *name, char **items, int n) {
  fprintf(f, "\"%s\":[", name);
  for (int i = 0; (n < 0 ? items[i] != NULL : i < n); i++) {
    if (i) fputc(',', f);
    put_string(f, items[i]);
  }
  fputc(']', f);
}

#ifdef CLI_2023
/* The 2023 CLI's option table and value rules; 0 when argv is one it accepts. */
static int refuse_2023(int argc, char **argv) {
  static const struct option options[] = {
      {"allow-link", required_argument, NULL, 'l'}, {"pid", required_argument, NULL, 'p'},
      {"rootfs", required_argument, NULL, 'r'},     {"options", required_argument, NULL, 'o'},
      {"mount-file", required_argument, NULL, 'f'}, {"mount-dir", required_argument, NULL, 'i'},
      {NULL, 0, NULL, 0}};
  char **copy = calloc(argc + 1, sizeof *copy);
  for (int i = 0; i < argc; i++) copy[i] = argv[i];
  int c, pid = 0, rootfs = 0, link = 0;
  opterr = 1;
  while ((c = getopt_long(argc, copy, "", options, NULL)) != -1) {
    switch (c) {
      case 'l':
        if (strcmp(optarg, "True") != 0 && strcmp(optarg, "False") != 0) {
          fprintf(stderr, "invalid allow-link value: %s\n", optarg);
          return 1;
        }
        link = 1;
        break;
      case 'o':
        if (strcmp(optarg, "NODRV") != 0 && strcmp(optarg, "VIRTUAL") != 0 && strcmp(optarg, "NODRV,VIRTUAL") != 0) {
          fprintf(stderr, "invalid options: %s\n", optarg);
          return 1;
        }
        break;
      case 'p':
        pid = atoi(optarg) > 0;
        break;
      case 'r':
        rootfs = optarg[0] == '/';
        break;
      case 'f':
      case 'i':
        break;
      default:
        return 1; /* getopt_long has printed "unrecognized option" */
    }
  }
  if (optind < argc) {
    fprintf(stderr, "unexpected argument: %s\n", argv[optind]);
    return 1;
  }
  if (!pid || !rootfs || !link) {
    fprintf(stderr, "--allow-link, --pid and --rootfs are required\n");
    return 1;
  }
  return 0;
}
#endif

int main(int argc, char **argv) {
#ifdef CLI_2023
  if (refuse_2023(argc, argv)) return 1;
#endif
  const char *record = getenv("ADH_RECORD");
  char beside[4096];
  if (!record) {
    const char *slash = strrchr(argv[0], '/');
    snprintf(beside, sizeof beside, "%.*srecord.json", slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
    record = beside;
  }
  FILE *f = fopen(record, "w");
  if (!f) return 99;
  fputc('{', f);
  put_array(f, "argv", argv, argc);
  fputc(',', f);
  put_array(f, "env", environ, -1);
  fprintf(f, ",\"nonblock\":[%d,%d,%d]", (fcntl(0, F_GETFL) & O_NONBLOCK) != 0, (fcntl(1, F_GETFL) & O_NONBLOCK) != 0,
          (fcntl(2, F_GETFL) & O_NONBLOCK) != 0);
  const char *pid = NULL;
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--pid") == 0) pid = argv[i + 1];
  if (pid) {
    char path[64], theirs[128] = {0}, ours[128] = {0};
    snprintf(path, sizeof path, "/proc/%s/ns/mnt", pid);
    ssize_t a = readlink(path, theirs, sizeof theirs - 1);
    ssize_t b = readlink("/proc/self/ns/mnt", ours, sizeof ours - 1);
    fprintf(f, ",\"pidAlive\":%s,\"mntnsDiffers\":%s", a > 0 ? "true" : "false",
            a > 0 && b > 0 && strcmp(theirs, ours) != 0 ? "true" : "false");
  }
  fputs("}\n", f);
  fclose(f);
  const char *code = getenv("ADH_EXIT");
  return code ? atoi(code) : 0;
}
