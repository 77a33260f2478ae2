/* test_tools_hostile: fftconv-tune and fftconv-cache against careless and hostile input
   (issue 17). One table of cases, each a command, the exit status it must give and a piece
   of the message it must print; every case runs under a time limit (a FIFO or a device must
   never be waited on), and the directory of the user's files is fingerprinted around it (no
   file changed, created or removed). The exit statuses are the tools' one table: 2 bad usage
   or bad input (a problem file included, in both tools), 1 a runtime failure (the cache
   cannot be used), 3 the tuner asked to tune without a usable GPU, 0 only on success. */
#include <criterion/criterion.h>

#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fftconv.h"

static char dir[64];

/* The user's files, as hostile as they come. */
static void put(const char *name, const void *data, size_t n) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  cr_assert(f, "%s: %s", p, strerror(errno));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void puts_file(const char *name, const char *text) { put(name, text, strlen(text)); }

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-hostile-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  char p[256], q[256];
  puts_file("good.txt", "--seqlen 256 --dtype fp32 --mode circular\n");
  puts_file("bom.txt", "\xef\xbb\xbf--seqlen 256 --dtype fp32 --mode circular\r\n");
  put("nul.txt", "--seqlen 256\n--seqlen 256\0 --dtype fp64\n", 40);
  puts_file("empty.txt", "");
  puts_file("comments.txt", "# nothing\n\n   \t\n# more\n");
  puts_file("binary.txt", "\x80\x81\xfe\xff --seqlen 256\n");
  puts_file("escape.txt", "--seqlen 256 --dtype \033[2J\033[31mred\n");
  puts_file("heads.txt", "--seqlen 256 --heads 4294967296\n");
  puts_file("elems.txt", "--seqlen 2097152 --batch 1048576 --heads 1048576\n");
  puts_file("flag.txt", "--seqlen 256 --device 0\n");
  puts_file("text.db", "hello, this is not a database\n");
  puts_file("file", "a file where a directory is expected\n");
  /* a line over the limit, and more problems than the limit */
  char *line = malloc(70001);
  memset(line, ' ', 70000);
  line[70000] = '\n';
  put("longline.txt", line, 70001);
  free(line);
  size_t ln = strlen("--seqlen 256\n"), nl = 100001;
  char *many = malloc(ln * nl);
  for (size_t i = 0; i < nl; i++) memcpy(many + i * ln, "--seqlen 256\n", ln);
  put("many.txt", many, ln * nl);
  free(many);
  /* 17 MiB that cost nothing: sparse; refused by its size before a byte is read */
  snprintf(p, sizeof p, "%s/big.txt", dir);
  int fd = open(p, O_CREAT | O_WRONLY, 0644);
  cr_assert(fd >= 0 && ftruncate(fd, 17 << 20) == 0);
  close(fd);
  unsigned char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
  put("garbage.db", junk, sizeof junk);
  /* an SQLite database of another application */
  snprintf(p, sizeof p, "%s/other-app.db", dir);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "PRAGMA application_id = 42; CREATE TABLE t(x);", NULL, NULL,
                            NULL), SQLITE_OK);
  sqlite3_close(db);
  snprintf(p, sizeof p, "%s/fifo", dir);
  cr_assert_eq(mkfifo(p, 0644), 0, "mkfifo: %s", strerror(errno));
  snprintf(p, sizeof p, "%s/sub", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/fifo", dir);
  snprintf(q, sizeof q, "%s/link-to-fifo", dir);
  cr_assert_eq(symlink(p, q), 0);
  snprintf(q, sizeof q, "%s/link-to-zero", dir);
  cr_assert_eq(symlink("/dev/zero", q), 0);
  snprintf(q, sizeof q, "%s/dangling", dir);
  cr_assert_eq(symlink("/nonexistent/fftconv", q), 0);
}


static void teardown(void) { rm_tree(dir); }

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 900);

/* Every entry under d (links not followed, FIFOs not opened): name, type, size, mtime and
   the bytes of small regular files, hashed into one number. */
static uint64_t fingerprint(const char *d, uint64_t h) {
  DIR *dd = opendir(d);
  cr_assert(dd, "%s", d);
  struct dirent *de;
  char names[64][256];
  int n = 0;
  while ((de = readdir(dd)) && n < 64)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      snprintf(names[n++], sizeof names[0], "%s", de->d_name);
  closedir(dd);
  qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  for (int i = 0; i < n; i++) {
    char p[1024];
    cr_assert_lt(snprintf(p, sizeof p, "%s/%s", d, names[i]), (int)sizeof p);
    struct stat sb;
    cr_assert_eq(lstat(p, &sb), 0, "%s", p);
    int64_t meta[4] = {(int64_t)sb.st_mode, (int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec,
                       (int64_t)sb.st_mtim.tv_nsec};
    for (const char *c = names[i]; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    for (size_t k = 0; k < sizeof meta; k++) h = (h ^ ((unsigned char *)meta)[k]) * 0x100000001b3ull;
    if (S_ISDIR(sb.st_mode)) h = fingerprint(p, h);
    if (S_ISREG(sb.st_mode) && sb.st_size <= (1 << 20)) {
      FILE *f = fopen(p, "rb");
      cr_assert(f, "%s", p);
      int c;
      while ((c = getc(f)) != EOF) h = (h ^ (unsigned)c) * 0x100000001b3ull;
      fclose(f);
    }
  }
  return h;
}

/* Runs a tool with args ('@' stands for the directory) under a 60 s limit, stdin closed.
   Returns its exit status (137: killed by the limit, i.e. it hung). */
static int run(const char *tool, const char *args, char *out, size_t len) {
  const char *bin = !strcmp(tool, "tune") ? getenv("FFTCONV_TUNE") : getenv("FFTCONV_CACHE_BIN");
  if (!bin) bin = !strcmp(tool, "tune") ? TUNE_BIN : CACHE_BIN;
  char a[2048], cmd[4096];
  size_t k = 0;
  for (const char *s = args; *s && k + 80 < sizeof a; s++) {
    if (*s == '@') k += (size_t)snprintf(a + k, sizeof a - k, "%s", dir);
    else a[k++] = *s;
  }
  a[k] = 0;
  /* FFTCONV_HOSTILE_TIMEOUT shortens the limit, to run the table against older builds */
  const char *limit = getenv("FFTCONV_HOSTILE_TIMEOUT");
  snprintf(cmd, sizeof cmd, "timeout -s KILL %s %s %s 2>&1 </dev/null", limit ? limit : "60",
           bin, a);
  FILE *f = popen(cmd, "r");
  cr_assert(f, "popen %s", cmd);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct hostile_case {
  const char *tool; /* "tune" or "cache" */
  const char *args;
  int status;
  const char *says; /* a piece of the output */
  int nogpu;        /* only where no GPU can be used (the tuner would tune there) */
} hostile_case;

/* The tuner's problem flags and integer flags: parsed strictly, refused by name and range
   before anything is done (issue 17, 16). */
static const hostile_case tune_flags[] = {
    {"tune", "--device 4294967296 --seqlen 256", 2,
     "--device: '4294967296' is not an integer from 0 to 2147483647", 0},
    {"tune", "--device -1 --seqlen 256", 2, "--device: '-1' is not an integer from 0 to", 0},
    {"tune", "--device 1x", 2, "--device: '1x' is not an integer", 0},
    {"tune", "--device ''", 2, "--device: '' is not an integer", 0},
    {"tune", "--device ' 0'", 2, "--device: ' 0' is not an integer", 0},
    {"tune", "--jobs 0", 2, "--jobs: '0' is not an integer from 1 to 4096", 0},
    {"tune", "--jobs 4097", 2, "--jobs: '4097' is not an integer from 1 to 4096", 0},
    {"tune", "--jobs 18446744073709551617", 2, "--jobs: '18446744073709551617' is not an integer", 0},
    {"tune", "--runs 19", 2, "--runs: '19' is not an integer from 20 to 1000000", 0},
    {"tune", "--runs 4294967316", 2, "--runs: '4294967316' is not an integer from 20", 0},
    {"tune", "--warmup -1", 2, "--warmup: '-1' is not an integer from 0", 0},
    {"tune", "--budget 0", 2, "--budget: '0' is not an integer from 1 to 2147483647", 0},
    {"tune", "--budget 2147483648", 2, "--budget: '2147483648' is not an integer from 1", 0},
    {"tune", "--seqlen +256", 2, "--seqlen: '+256' is not an integer >= 1", 0},
    {"tune", "--seqlen 0x100", 2, "--seqlen: '0x100' is not an integer >= 1", 0},
    {"tune", "--seqlen 1e3", 2, "--seqlen: '1e3' is not an integer >= 1", 0},
    {"tune", "--seqlen 9223372036854775808", 2, "--seqlen: '9223372036854775808' is not an integer", 0},
    {"tune", "--seqlen 256 --heads 4294967296", 2, "heads: 4294967296 is out of range (1 to 2147483647", 0},
    {"tune", "--seqlen 2097152 --batch 1048576 --heads 1048576", 2,
     "batch x heads x seqlen: 1048576 x 1048576 x 2097152 is more than 2^48 elements", 0},
    {"tune", "--seqlen 256 --filter-len -1", 2, "--filter-len: '-1' is not an integer >= 0", 0},
    {"tune", "--screen ' 2'", 2, "--screen: ' 2' is not 0 or a number from 1 to 100", 0},
    {"tune", "--screen 0x2", 2, "--screen: '0x2' is not 0", 0},
    {"tune", "--screen nan", 2, "--screen: 'nan' is not 0", 0},
    {"tune", "--screen 1e1", 2, "--screen: '1e1' is not 0", 0},
    {"tune", "--dtype \"$(printf '\\033[2J')\"", 2, "--dtype: '\\x1b[2J' is not one of", 0},
    {"tune", "--set ''", 2, "--set: '' is not a problem set", 0},
    {"tune", "--cache ''", 2, "--cache needs a value", 0},
    {"tune", "--list-set long --device 99999999999", 2, "--device: '99999999999' is not an", 0},
};

/* Problem files, the same in both tools (issue 17, 15 and 17): only regular files, sizes and
   counts checked before anything is allocated, exit status 2 for every file that cannot be
   used. */
static const hostile_case problem_files[] = {
    {"tune", "--problems @/sub", 2, "--problems @/sub: is a directory, not a problem-set file", 0},
    {"tune", "--problems @/fifo", 2, "--problems @/fifo: is a FIFO, not a problem-set file", 0},
    {"tune", "--problems @/link-to-fifo", 2, "is a FIFO, not a problem-set file", 0},
    {"tune", "--problems @/link-to-zero", 2, "is a character device, not a problem-set file", 0},
    {"tune", "--problems /dev/null", 2, "--problems /dev/null: is a character device", 0},
    {"tune", "--problems @/dangling", 2, "No such file or directory", 0},
    {"tune", "--problems @/missing.txt", 2, "--problems @/missing.txt: No such file or directory", 0},
    {"tune", "--problems @/file/x.txt", 2, "Not a directory", 0},
    {"tune", "--problems @/big.txt", 2, "is 17825792 bytes; a problem-set file may have at most 16777216", 0},
    {"tune", "--problems @/nul.txt", 2, "@/nul.txt:2: holds a NUL byte", 0},
    {"tune", "--problems @/longline.txt", 2, "@/longline.txt:1: is 70000 bytes long; a line may have at most 65536", 0},
    {"tune", "--problems @/many.txt", 2, "@/many.txt:100001: more than 100000 problems", 0},
    {"tune", "--problems @/binary.txt", 2, "@/binary.txt:1: '\\x80\\x81\\xfe\\xff' is not a problem flag", 0},
    {"tune", "--problems @/escape.txt", 2, "--dtype: '\\x1b[2J\\x1b[31mred' is not one of", 0},
    {"tune", "--problems @/empty.txt", 2, "@/empty.txt holds no problem", 0},
    {"tune", "--problems @/comments.txt", 2, "@/comments.txt holds no problem", 0},
    {"tune", "--problems @/heads.txt", 2, "@/heads.txt:1: heads: 4294967296 is out of range", 0},
    {"tune", "--problems @/elems.txt", 2, "@/elems.txt:1: batch x heads x seqlen", 0},
    {"tune", "--problems @/flag.txt", 2, "@/flag.txt:1: '--device' is not a problem flag", 0},
    {"tune", "--problems ''", 2, "--problems : No such file or directory", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/sub", 2, "--problems @/sub: is a directory", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/fifo", 2, "is a FIFO", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/missing.txt", 2, "No such file", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/big.txt", 2, "at most 16777216", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/nul.txt", 2, "nul.txt:2: holds a NUL byte", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/empty.txt", 2, "holds no problem", 0},
    {"cache", "--cache @/none.db export --out @/b --problems @/many.txt", 2, "more than 100000 problems", 0},
    {"cache", "--cache @/none.db export --out @/b --jobs 4294967297", 2, "--jobs: '4294967297' is not an integer from 1 to 256", 0},
};

/* --cache that a tuning run could not use: said at once, GPU or not, exit status 1, the file
   as it was (issue 17, 14); a tuning run without a GPU is exit status 3 and creates nothing. */
static const hostile_case tune_cache[] = {
    {"tune", "--seqlen 256 --cache /dev/null", 1, "cache /dev/null is not an fftconv cache: not a regular file", 0},
    {"tune", "--seqlen 256 --cache @/sub", 1, "cache @/sub is not an fftconv cache: not a regular file", 0},
    {"tune", "--seqlen 256 --cache @/fifo", 1, "not a regular file", 0},
    {"tune", "--seqlen 256 --cache @/garbage.db", 1, "cache @/garbage.db is not an fftconv cache: not an SQLite database", 0},
    {"tune", "--seqlen 256 --cache @/text.db", 1, "is not an fftconv cache", 0},
    {"tune", "--seqlen 256 --cache @/other-app.db", 1, "belongs to another application", 0},
    {"tune", "--seqlen 256 --cache @/file/cache.db", 1, "Not a directory", 0},
    {"tune", "--seqlen 256 --cache /dev/null/cache.db", 1, "Not a directory", 0},
    {"tune", "--set long --cache @/garbage.db", 1, "not an SQLite database", 0},
    {"tune", "--quiet --rigor estimate --template monarch_fp32 --seqlen 256 --cache @/new/cache.db", 3,
     "nothing was tuned: no GPU", 1},
    {"tune", "--quiet --rigor estimate --template monarch_fp32 --seqlen 256 --device 3", 3,
     "nothing was tuned: no GPU", 1},
    {"tune", "--quiet --rigor estimate --template monarch_fp32 --problems @/bom.txt", 3,
     "nothing was tuned: no GPU", 1},
    /* --dry-run never touches the cache, whatever it names */
    {"tune", "--dry-run --quiet --rigor estimate --template monarch_fp32 --seqlen 256 --cache @/garbage.db", 0,
     "compiled 1 of 1 for sm_90", 0},
    {"tune", "--dry-run --quiet --rigor estimate --template monarch_fp32 --problems @/bom.txt", 0,
     "B8.H64.L256.K256.F0.fp32.circular.nopre.nopost.nod", 0},
};

/* fftconv-cache's other commands against what is not a cache. */
static const hostile_case cache_cmds[] = {
    {"cache", "--cache /dev/null list", 1, "cache /dev/null is not an fftconv cache: not a regular file", 0},
    {"cache", "--cache @/sub list", 1, "not a regular file", 0},
    {"cache", "--cache @/fifo list", 1, "not a regular file", 0},
    {"cache", "--cache @/link-to-fifo list --all", 1, "not a regular file", 0},
    {"cache", "--cache @/garbage.db list", 1, "not an SQLite database", 0},
    {"cache", "--cache @/other-app.db list", 1, "belongs to another application", 0},
    {"cache", "--cache @/missing.db list", 1, "no cache at @/missing.db", 0},
    {"cache", "--cache= list", 2, "--cache needs a value", 0},
    {"cache", "--cache @/garbage.db show 1", 1, "not an SQLite database", 0},
    {"cache", "--cache @/garbage.db show ' 1'", 2, "show: bad kernel id ' 1'", 0},
    {"cache", "--cache @/garbage.db show +1", 2, "show: bad kernel id '+1'", 0},
    {"cache", "--cache @/garbage.db show 1.0", 2, "show: bad kernel id '1.0'", 0},
    {"cache", "--cache @/garbage.db show ''", 2, "show: bad kernel id ''", 0},
    {"cache", "--cache @/garbage.db show 18446744073709551617", 2, "is out of range (1 to 9223372036854775807)", 0},
    {"cache", "--cache @/garbage.db prune", 1, "not an SQLite database", 0},
    {"cache", "--cache @/garbage.db prune --dry-run", 1, "not an SQLite database", 0},
    {"cache", "--cache @/text.db prune", 1, "is not an fftconv cache", 0},
    {"cache", "--cache @/fifo prune", 1, "not a regular file", 0},
    {"cache", "--cache @/garbage.db merge @/text.db", 1, "text.db is not an fftconv cache", 0},
    {"cache", "--cache @/new.db merge @/fifo", 1, "not a regular file", 0},
    {"cache", "--cache @/new.db merge /dev/zero", 1, "not a regular file", 0},
    {"cache", "--cache @/new.db merge @/garbage.db", 1, "not an SQLite database", 0},
    {"cache", "--cache @/new.db merge @/missing.db", 1, "no cache at", 0},
    {"cache", "--cache @/fifo merge @/garbage.db", 1, "not", 0},
};

static int gpu_usable(void) {
  static int known = -1;
  if (known < 0) {
    fftconv_ctx *c = NULL;
    known = fftconv_ctx_create(NULL, &c) == FFTCONV_OK;
    fftconv_ctx_destroy(c);
  }
  return known;
}

/* Runs a table: status, message, no hang, the directory as it was. */
static int sweep(const hostile_case *cases, size_t n) {
  static char out[1 << 18];
  int ran = 0;
  for (size_t i = 0; i < n; i++) {
    const hostile_case *c = &cases[i];
    if (c->nogpu && gpu_usable()) continue;
    uint64_t before = fingerprint(dir, 0xcbf29ce484222325ull);
    int st = run(c->tool, c->args, out, sizeof out);
    cr_expect_neq(st, 137, "%s %s: hung (killed by the time limit)", c->tool, c->args);
    char says[1024];
    size_t k = 0;
    for (const char *s = c->says; *s && k + 80 < sizeof says; s++) {
      if (*s == '@') k += (size_t)snprintf(says + k, sizeof says - k, "%s", dir);
      else says[k++] = *s;
    }
    says[k] = 0;
    cr_expect_eq(st, c->status, "%s %s: exit status %d, wanted %d; the output:\n%s", c->tool,
                 c->args, st, c->status, out);
    cr_expect(strstr(out, says), "%s %s: '%s' not in the output:\n%s", c->tool, c->args, says,
              out);
    cr_expect_null(strstr(out, "AddressSanitizer"), "%s %s:\n%s", c->tool, c->args, out);
    cr_expect_null(strstr(out, "runtime error"), "%s %s:\n%s", c->tool, c->args, out);
    cr_expect_eq(fingerprint(dir, 0xcbf29ce484222325ull), before,
                 "%s %s: a file of the user's directory changed", c->tool, c->args);
    ran++;
  }
  return ran;
}

Test(hostile, tuner_flags) { cr_assert_geq(sweep(tune_flags, sizeof tune_flags / sizeof *tune_flags), 28); }

Test(hostile, problem_files_in_both_tools) {
  cr_assert_geq(sweep(problem_files, sizeof problem_files / sizeof *problem_files), 28);
}

Test(hostile, tuner_cache_and_no_gpu) { sweep(tune_cache, sizeof tune_cache / sizeof *tune_cache); }

Test(hostile, cache_commands) {
  cr_assert_geq(sweep(cache_cmds, sizeof cache_cmds / sizeof *cache_cmds), 24);
}
