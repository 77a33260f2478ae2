/* fftconv-tune as a user meets it: --help documents every flag; a bad flag or value names
   itself and exits 2; the compile-only check runs without a GPU and --emit-dir writes every
   candidate's source with its header; --rigor sample compiles a covering sample; with no
   arguments and no GPU it runs the quick check (about a minute), says that nothing was tuned
   and why, and prints the command of the full check. */
#include <criterion/criterion.h>

#include "fftconv.h"
#include "run_tool.h"
#include "tree.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *args, char *out, size_t len) {
  return run_tool("FFTCONV_TUNE", TUNE_BIN, args, out, len);
}

Test(tune_cli, help_documents_every_flag) {
  static char out[1 << 16];
  cr_assert_eq(run("--help", out, sizeof out), 0);
  const char *flags[] = {"--seqlen", "--batch", "--heads", "--dtype", "--mode", "--filter-len",
                         "--freq-keep", "--pregate", "--postgate", "--skip-d", "--device",
                         "--arch", "--dry-run", "--emit-dir", "--jobs", "--runs", "--template",
                         "--problems", "--rigor", "--budget", "--cache", "--json",
                         "--list-default", "--table", "--screen", "--set", "--list-set", "--op",
                         "--only"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    cr_assert(strstr(out, flags[i]), "--help does not mention %s", flags[i]);
}

Test(tune_cli, bad_flags_name_themselves) {
  static char out[1 << 16];
  /* The whole output: the message and the pointer to --help, nothing before or after. */
  struct { const char *args, *line; } cases[] = {
      {"--dtype fp8", "--dtype: 'fp8' is not one of fp32, fp16, bf16"},
      {"--mode sideways", "--mode: 'sideways' is not one of causal, circular"},
      {"--seqlen abc", "--seqlen: 'abc' is not an integer >= 1"},
      {"--seqlen 0", "--seqlen: '0' is not an integer >= 1"},
      {"--batch -2", "--batch: '-2' is not an integer >= 1"},
      {"--runs 5", "--runs: '5' is not an integer from 20 to 1000000"},
      {"--device 4294967296", "--device: '4294967296' is not an integer from 0 to 2147483647"},
      {"--jobs 2 --seqlen ' 100'", "--seqlen: ' 100' is not an integer >= 1"},
      {"--bogus", "unknown option '--bogus'"},
      {"--seqlen", "--seqlen needs a value"},
      {"--arch sm_xx", "--arch: 'sm_xx' is not an architecture (expected sm_XY, e.g. sm_90)"},
      {"--seqlen 1000 --filter-len 5000", "filter_len: 5000 is out of range *"},
      {"--mode circular --seqlen 1000", "seqlen: 1000 is not supported in circular mode *"},
      {"--seqlen 1000 --freq-keep 4000", "freq_keep: 4000 is out of range *"},
      {"extra", "unexpected argument 'extra'"},
      {"--rigor sloppy", "--rigor: 'sloppy' is not one of estimate, sample, measure, exhaustive"},
      {"--budget 0", "--budget: '0' is not an integer from 1 to 2147483647"},
      {"--screen 0.5", "--screen: '0.5' is not 0 or a number from 1 to 100"},
      {"--batch 3", "--seqlen is required for a problem given by flags"},
      {"--seqlen 256 --problems /dev/null",
       "give one problem with flags, a file with --problems or a set with --set, not two of them"},
      {"--set long --problems /dev/null",
       "give one problem with flags, a file with --problems or a set with --set, not two of them"},
      {"--set huge", "--set: 'huge' is not a problem set (known: default, long)"},
      {"--list-set", "--list-set needs a value"},
      {"--mode circular --seqlen 8388608",
       "seqlen: 8388608 is not supported in circular mode (a power of two from 256 to 4194304; "
       "up to 2^40 with filter_len at most 64)"},
      {"--seqlen 2097153", "seqlen: 2097153 is out of range in causal mode (1 to 2097152: *"},
      {"--dry-run --seqlen 256 --template nope",
       "--template: 'nope' is not a kernel family (known: *monarch_fp32*monarch_tc*)"},
      {"--dry-run --seqlen 256 --op no_such_op", "--op: 'no_such_op' is not an op (known: forward*)"},
      {"--op", "--op needs a value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(run(cases[i].args, out, sizeof out), 2, "%s: exit status; %s", cases[i].args,
                 out);
    char line[512];
    snprintf(line, sizeof line, "fftconv-tune: %s", cases[i].line);
    const char *want[] = {line, "(see fftconv-tune --help)", NULL};
    expect_lines(cases[i].args, out, want);
  }
  /* A problem-set file that cannot be read (the file and why), an arch without limits. */
  struct { const char *args, *line; } files[] = {
      {"--problems /nonexistent/set.txt",
       "fftconv-tune: --problems /nonexistent/set.txt: No such file or directory"},
      {"--problems /", "fftconv-tune: --problems /: is a directory, not a problem-set file"},
      {"--dry-run --seqlen 256 --arch sm_10",
       "fftconv-tune: no published limits for sm_10; choose --arch"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    cr_assert_eq(run(files[i].args, out, sizeof out), 2, "%s: exit status; %s", files[i].args,
                 out);
    const char *want[] = {files[i].line, NULL};
    expect_lines(files[i].args, out, want);
  }
}

/* --emit-dir writes each file under a new temporary name and renames it into place, replacing
   only a file it wrote before: a link planted at one of its names is not followed (its target
   keeps its bytes) and a file of someone else's is not replaced; a run into the directory it
   wrote before replaces its own files. */
/* --op names the op to tune; forward is the default and, today, the only op. */
/* --op both (the default) tunes each problem's backward after its forward; a backward that no
   family runs (monarch_fp32's ends at N = 16K) is said on its line and fails only a run that
   asked for the backward alone. */
Test(tune_cli, op_both_tunes_the_backward_beside_the_forward) {
  static char out[1 << 16];
  const char *both = "--dry-run --quiet --rigor estimate --jobs 2 --template monarch_fp32 "
                     "--dtype fp32 --mode circular --seqlen 32768";
  cr_assert_eq(run(both, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "backward:B8.H64.L32768.K32768.F0.fp32.circular.nopre.nopost.nod"),
            "%s", out);
  cr_assert(strstr(out, "no candidate: template 'monarch_fp32' cannot run this problem: needs "),
            "%s", out);
  const char *alone = "--dry-run --quiet --rigor estimate --jobs 2 --template monarch_fp32 "
                      "--dtype fp32 --mode circular --seqlen 32768 --op backward";
  cr_assert_eq(run(alone, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "template 'monarch_fp32' cannot run this problem"), "%s", out);
  const char *fits = "--dry-run --quiet --rigor estimate --jobs 2 --template monarch_fp32 "
                     "--dtype bf16 --seqlen 3000 --pregate --postgate --skip-d --op backward";
  cr_assert_eq(run(fits, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "backward:B8.H64.L3000.K3000.F0.bf16.causal.pre.post.d"), "%s", out);
  cr_assert(strstr(out, "compiled 1 of 1 for sm_90"), "%s", out);
}

/* A retired family (runs.retired: measured never to win) is left out of the search and the
   built-in choice, said in --help, and searched when --template names it. */
Test(tune_cli, retired_family_is_searched_only_when_named) {
  static char out[1 << 16];
  const char *every = "--dry-run --quiet --rigor estimate --jobs 2 --op forward --table "
                      "--mode circular --seqlen 65536";
  cr_assert_eq(run(every, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "compiled 1 of 1 for sm_90") && strstr(out, " long "), "%s", out);
  cr_assert_null(strstr(out, "cluster"), "%s", out);
  char named[256];
  snprintf(named, sizeof named, "%s --template monarch_cluster", every);
  cr_assert_eq(run(named, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "compiled 1 of 1 for sm_90") && strstr(out, " cluster "), "%s", out);
  cr_assert_eq(run("--help", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "searched only when named: never the fastest"), "%s", out);
}

Test(tune_cli, op_forward_is_accepted) {
  static char out[1 << 16];
  const char *args = "--dry-run --quiet --rigor estimate --jobs 2 --op forward "
                     "--template monarch_fp32 --dtype fp32 --seqlen 256";
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "compiled 1 of 1 for sm_90"), "%s", out);
  cr_assert(!strstr(out, "compiling"), "--quiet: no progress: %s", out);
}

/* --only keeps the candidates whose parameters hold every text given, says so when none of a
   family's does (nothing to run: status 1), and refuses an empty text. */
Test(tune_cli, only_narrows_the_search) {
  static char out[1 << 16];
  const char *base = "--dry-run --op forward --rigor exhaustive --jobs 2 --template monarch_fp32 "
                     "--dtype fp32 --seqlen 256 --table";
  char args[512];
  cr_assert_eq(run(base, out, sizeof out), 0, "%s", out);
  int all = 0, some = 0, of = 0;
  const char *c = strstr(out, "compiled ");
  cr_assert(c && sscanf(c, "compiled %d of %d", &all, &of) == 2, "%s", out);
  snprintf(args, sizeof args, "%s --only '\"threads\":64' --only '\"dft\":\"radix\"'", base);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  c = strstr(out, "compiled ");
  cr_assert(c && sscanf(c, "compiled %d of %d", &some, &of) == 2, "%s", out);
  cr_assert(some > 0 && some < all, "%d of %d", some, all);
  int rows = 0;
  for (const char *l = strstr(out, " fp32 "); l; l = strstr(l + 1, " fp32 ")) {
    const char *eol = strchr(l, '\n');
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(eol ? eol - l : 200), l);
    cr_assert(strstr(line, "threads=64") && strstr(line, "dft=radix"), "%s", line);
    rows++;
  }
  cr_assert_eq(rows, some, "%s", out);
  snprintf(args, sizeof args, "%s --only nothing-has-this", base);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "monarch_fp32: none of its ") && strstr(out, "has every --only text"),
            "%s", out);
  snprintf(args, sizeof args, "%s --only ''", base);
  cr_assert_eq(run(args, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "--only needs a text"), "%s", out);
}

Test(tune_cli, emit_dir_replaces_only_its_own_files) {
  static char out[1 << 16];
  char dir[] = "/tmp/fftconv-emit-XXXXXX";
  cr_assert(mkdtemp(dir));
  char args[256], p[512], q[512];
  snprintf(args, sizeof args, "--dry-run --rigor estimate --seqlen 1024 --batch 2 --heads 2 "
           "--dtype fp32 --template monarch_fp32 --emit-dir %s", dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  snprintf(p, sizeof p, "%s/monarch_fp32_000.log", dir);
  FILE *f = fopen(p, "r");
  cr_assert(f, "%s", out);
  char head[64] = "";
  cr_assert(fgets(head, sizeof head, f));
  fclose(f);
  cr_assert_str_eq(head, "/* fftconv-tune --emit-dir: NVRTC log */\n");
  cr_assert_eq(run(args, out, sizeof out), 0, "its own files are replaced: %s", out);
  /* a link at the source's name, to a file of the user's */
  snprintf(p, sizeof p, "%s/monarch_fp32_000.cu", dir);
  snprintf(q, sizeof q, "%s/precious.txt", dir);
  f = fopen(q, "w");
  fputs("the user's\n", f);
  fclose(f);
  cr_assert_eq(remove(p), 0);
  cr_assert_eq(symlink(q, p), 0);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "monarch_fp32_000.cu exists and is not a file fftconv-tune wrote: not "
                   "replaced"), "%s", out);
  f = fopen(q, "r");
  char body[64] = "";
  cr_assert(fgets(body, sizeof body, f));
  fclose(f);
  cr_assert_str_eq(body, "the user's\n", "the link's target was written");
  /* a file of someone else's at that name */
  cr_assert_eq(remove(p), 0);
  cr_assert_eq(rename(q, p), 0);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  f = fopen(p, "r");
  cr_assert(fgets(body, sizeof body, f));
  fclose(f);
  cr_assert_str_eq(body, "the user's\n");
  DIR *d = opendir(dir);
  struct dirent *de;
  while ((de = readdir(d))) cr_assert(!strstr(de->d_name, ".partial-"), "%s left", de->d_name);
  closedir(d);
  rm_tree(dir);
}

Test(tune_cli, compile_only_check_and_emit_dir) {
  static char out[1 << 16];
  char dir[] = "/tmp/fftconv-emit-XXXXXX";
  cr_assert(mkdtemp(dir));
  char args[256];
  snprintf(args, sizeof args,
           "--dry-run --op forward --seqlen 100 --batch 3 --heads 5 --dtype bf16 --pregate "
           "--emit-dir %s", dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  /* Every family: 16 monarch_fp32 candidates and the tensor-core ones, all compiled. */
  int compiled = 0, of = -1;
  const char *c = strstr(out, "compiled ");
  cr_assert(c && sscanf(c, "compiled %d of %d for sm_90", &compiled, &of) == 2, "%s", out);
  cr_assert_eq(compiled, of, "%s", out);
  cr_assert(strstr(out, "B3.H5.L100.K100.F0.bf16.causal.pre.nopost.nod"), "%s", out);
  /* without a terminal, progress is a line a stage, said before its compiling starts */
  cr_assert(strstr(out, "[1/1] B3.H5.L100.K100.F0.bf16.causal.pre.nopost.nod compiling "), "%s",
            out);
  DIR *d = opendir(dir);
  cr_assert(d);
  int files = 0;
  struct dirent *de;
  int logs = 0, tc = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (strstr(de->d_name, ".log")) { /* the NVRTC log beside each source */
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      remove(path);
      logs++;
      continue;
    }
    char path[512], head[256] = "";
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    size_t n = fread(head, 1, sizeof head - 1, f);
    head[n] = 0;
    fclose(f);
    cr_assert(strstr(head, "template: monarch_fp32 revision") ||
                  strstr(head, "template: monarch_tc revision"), "%s: %s", path, head);
    tc += strstr(head, "template: monarch_tc revision") != NULL;
    cr_assert(strstr(head, "\"dtype\":\"bf16\""), "%s", head);
    remove(path);
    files++;
  }
  closedir(d);
  rmdir(dir);
  cr_assert_eq(files, compiled);
  cr_assert_eq(logs, compiled);
  cr_assert_eq(files - tc, 16, "monarch_fp32 candidates");
  cr_assert_gt(tc, 0, "no monarch_tc candidate");
  cr_assert_eq(run("--dry-run --arch sm_80 --seqlen 256 --mode circular", out, sizeof out), 0,
               "%s", out);
  cr_assert(strstr(out, "for sm_80"), "%s", out);
}

/* The default set is FlashFFTConv's shapes and reads back as a problem-set file. */
Test(tune_cli, default_set_and_problem_files) {
  static char out[1 << 16];
  cr_assert_eq(run("--list-default", out, sizeof out), 0, "%s", out);
  int lines = 0;
  for (char *p = out; (p = strstr(p, "--seqlen")); p++) lines++;
  cr_assert_eq(lines, 32, "%s", out);
  cr_assert(strstr(out, "--batch 64 --heads 768 --seqlen 16384 --dtype bf16 --mode causal --pregate --postgate"), "%s", out);
  cr_assert(strstr(out, "--batch 64 --heads 768 --seqlen 32768 --dtype fp16 --mode circular --pregate --postgate"), "%s", out);
  /* The long set: 64K .. 4M with FlashFFTConv's reduced batches, both modes and dtypes. */
  cr_assert_eq(run("--list-set long", out, sizeof out), 0, "%s", out);
  lines = 0;
  for (char *p = out; (p = strstr(p, "--seqlen")); p++) lines++;
  cr_assert_eq(lines, 28, "%s", out);
  cr_assert(strstr(out, "--batch 8 --heads 768 --seqlen 65536 --dtype fp16 --mode circular --pregate --postgate"), "%s", out);
  cr_assert(strstr(out, "--batch 8 --heads 16 --seqlen 4194304 --dtype bf16 --mode circular --pregate --postgate"), "%s", out);
  cr_assert(strstr(out, "--batch 8 --heads 16 --seqlen 2097152 --dtype bf16 --mode causal --pregate --postgate"), "%s", out);

  char path[] = "/tmp/fftconv-set-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "# two problems\n--seqlen 100 --batch 3 --heads 5\n\n  --seqlen 256 --mode circular --dtype fp32 --pregate  # trailing\n");
  fclose(f);
  char args[256];
  snprintf(args, sizeof args, "--dry-run --quiet --rigor measure --problems %s", path);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  /* Every line of the run, and nothing else (no message about a valid file). */
  const char *want[] = {
      "device   * \\[compile only\\]",
      "compile  sm_90, NVRTC *, * jobs; rigor measure",
      "problems 2",
      "B3.H5.L100.K100.F0.fp16.causal.nopre.nopost.nod * compiled * of * for sm_90",
      "backward:B3.H5.L100.K100.F0.fp16.causal.nopre.nopost.nod compiled * of * for sm_90",
      "B8.H64.L256.K256.F0.fp32.circular.pre.nopost.nod * compiled * of * for sm_90",
      "backward:B8.H64.L256.K256.F0.fp32.circular.pre.nopost.nod compiled * of * for sm_90",
      NULL};
  expect_lines(args, out, want);

  f = fopen(path, "w");
  fprintf(f, "--seqlen 100\n--seqlen 100 --dtype fp64\n");
  fclose(f);
  snprintf(args, sizeof args, "--dry-run --problems %s", path);
  cr_assert_eq(run(args, out, sizeof out), 2, "%s", out);
  char where[128];
  snprintf(where, sizeof where, "fftconv-tune: %s:2: --dtype: 'fp64' is not one of fp32, fp16, bf16",
           path);
  const char *want_dtype[] = {where, "(see fftconv-tune --help)", NULL};
  expect_lines(args, out, want_dtype);
  f = fopen(path, "w");
  fprintf(f, "--seqlen 100 --bogus 3\n");
  fclose(f);
  cr_assert_eq(run(args, out, sizeof out), 2, "%s", out);
  snprintf(where, sizeof where, "fftconv-tune: %s:1: '--bogus' is not a problem flag", path);
  const char *want_bogus[] = {where, "(see fftconv-tune --help)", NULL};
  expect_lines(args, out, want_bogus);
  f = fopen(path, "w");
  fprintf(f, "--seqlen 100 --rigor measure\n");
  fclose(f);
  cr_assert_eq(run(args, out, sizeof out), 2, "%s", out);
  snprintf(where, sizeof where, "fftconv-tune: %s:1: '--rigor' is not a problem flag", path);
  const char *want_rigor[] = {where, "(see fftconv-tune --help)", NULL};
  expect_lines(args, out, want_rigor);
  remove(path);
}

/* A line is a line however long it is: its tail is not read as the next line. */
Test(tune_cli, long_problem_lines) {
  static char out[1 << 16];
  char path[] = "/tmp/fftconv-set-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "--seqlen 100%*s--batch 3 --heads 5 # %0*d\n", 1500, "", 3000, 0);
  fprintf(f, "--seqlen 256 --mode circular --dtype fp32\n");
  fclose(f);
  char args[256];
  snprintf(args, sizeof args,
           "--dry-run --quiet --rigor estimate --template monarch_fp32 --problems %s", path);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  const char *want[] = {
      "device   * \\[compile only\\]",
      "compile  sm_90, NVRTC *, * jobs; rigor estimate",
      "problems 2",
      "B3.H5.L100.K100.F0.fp16.causal.nopre.nopost.nod * compiled 1 of 1 for sm_90",
      "backward:B3.H5.L100.K100.F0.fp16.causal.nopre.nopost.nod compiled 1 of 1 for sm_90",
      "B8.H64.L256.K256.F0.fp32.circular.nopre.nopost.nod * compiled 1 of 1 for sm_90",
      "backward:B8.H64.L256.K256.F0.fp32.circular.nopre.nopost.nod compiled 1 of 1 for sm_90",
      NULL};
  expect_lines(args, out, want);

  /* An error after a long line names the right line. */
  f = fopen(path, "w");
  fprintf(f, "--seqlen 100%*s--batch 3\n--seqlen 100 --dtype fp64\n", 2000, "");
  fclose(f);
  cr_assert_eq(run(args, out, sizeof out), 2, "%s", out);
  char where[128];
  snprintf(where, sizeof where, "fftconv-tune: %s:2: --dtype: 'fp64' is not one of fp32, fp16, bf16",
           path);
  const char *want_err[] = {where, "(see fftconv-tune --help)", NULL};
  expect_lines(args, out, want_err);
  remove(path);
}

/* A run that has nothing to compile or tune fails and says why. */
Test(tune_cli, nothing_to_run_is_a_failure) {
  static char out[1 << 16];
  const char *args = "--template monarch_tc --dtype fp32 --seqlen 256 --dry-run";
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  const char *want[] = {
      "device   * \\[compile only\\]",
      "compile  sm_90, NVRTC *, * jobs; rigor exhaustive",
      "problems 1",
      "B8.H64.L256.K256.F0.fp32.causal.nopre.nopost.nod * no candidate: monarch_tc: check() "
      "rejects all * candidates: tensor-core kernels need fp16 or bf16 I/O, not fp32",
      "backward:B8.H64.L256.K256.F0.fp32.causal.nopre.nopost.nod no candidate: monarch_tc: "
      "check() rejects all * candidates: tensor-core kernels need fp16 or bf16 I/O, not fp32",
      NULL};
  expect_lines(args, out, want);
}

/* --rigor sample: every family's default plus a covering sample, far fewer than exhaustive. An
   explicit --rigor without a GPU keeps the plain compile-only check, with no quick check, and
   then exits 3: a tuning run was asked for and nothing was tuned. */
Test(tune_cli, rigor_sample_compiles_a_cover) {
  static char out[1 << 16];
  char dir[] = "/tmp/fftconv-emit-XXXXXX";
  cr_assert(mkdtemp(dir));
  /* Where there is a GPU the same command would tune: keep it a compile-only check there. */
  fftconv_ctx *probe = NULL;
  int gpu = fftconv_ctx_create(NULL, &probe) == FFTCONV_OK;
  fftconv_ctx_destroy(probe);
  char args[256];
  snprintf(args, sizeof args,
           "%s--rigor sample --op forward --seqlen 100 --batch 3 --heads 5 --dtype bf16 --pregate "
           "--emit-dir %s",
           gpu ? "--dry-run " : "", dir);
  cr_assert_eq(run(args, out, sizeof out), gpu ? 0 : 3, "%s", out);
  cr_assert(strstr(out, "rigor sample"), "%s", out);
  cr_assert_null(strstr(out, "each family's default choice"), "no quick check: %s", out);
  if (!gpu)
    cr_assert(strstr(out, "fftconv-tune: nothing was tuned: no GPU (") &&
                  strstr(out, "the compile-only check ran instead"), "%s", out);
  int compiled = 0, of = -1;
  const char *c = strstr(out, "compiled ");
  cr_assert(c && sscanf(c, "compiled %d of %d for sm_90", &compiled, &of) == 2, "%s", out);
  cr_assert_eq(compiled, of, "%s", out);
  /* The exhaustive space of this problem has 16 monarch_fp32 candidates and more of
     monarch_tc; the sample of both holds 10 (the seqs and warps values need the most). */
  cr_assert(of >= 2 && of <= 16, "%d sampled candidates:\n%s", of, out);
  DIR *d = opendir(dir);
  cr_assert(d);
  int fp32 = 0, tc = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    fp32 += !strncmp(de->d_name, "monarch_fp32", 12) && strstr(de->d_name, ".cu");
    tc += !strncmp(de->d_name, "monarch_tc", 10) && strstr(de->d_name, ".cu");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    remove(path);
  }
  closedir(d);
  rmdir(dir);
  cr_assert(fp32 > 0 && tc > 0, "%d + %d: a family is missing", fp32, tc);
  cr_assert_eq(fp32 + tc, of);
}

/* The README's first command on a machine without a GPU: the quick check, exit 0. */
Test(tune_cli, no_gpu_no_arguments_runs_the_quick_check) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) == FFTCONV_OK) {
    fftconv_ctx_destroy(probe);
    cr_skip_test("a GPU is present: fftconv-tune with no arguments would tune it");
  }
  char why[600];
  snprintf(why, sizeof why, "nothing was tuned: no GPU (%s)", fftconv_ctx_error(NULL));
  static char out[1 << 16];
  cr_assert_eq(run("--quiet", out, sizeof out), 0, "%s", out);
  const char *want[] = {
      "no GPU to tune on: ", "checking instead that the kernels compile", why,
      "problems 16 (16 more of the set need the same kernels)",
      "rigor estimate (each family's default choice), sample for one problem",
      "compiled 13 of 13 for sm_90 (sample)",
      "for the 32 problems of the default set (16 of them need kernels of their own)",
      "a sample of every family's space for B64.H768.L512.K512.F0.fp16.causal.pre.post.nod",
      "The full compile-only check compiles every candidate of the default set",
      "\n    fftconv-tune --dry-run --rigor exhaustive\n", "(an estimate from this run's"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_assert(strstr(out, want[i]), "'%s' not in:\n%s", want[i], out);
  int lines = 0;
  for (const char *p = out; (p = strstr(p, "compiled 2 of 2 for sm_90\n")); p++) lines++;
  cr_assert_eq(lines, 15, "one default a family for the 15 other distinct problems:\n%s", out);
  cr_assert_null(strstr(out, "FAILED"), "%s", out);
}

/* Without NVRTC (FFTCONV_NVRTC at a missing file) nothing can be compiled: one line that says
   so and what to do, exit status 1, before any work. */
Test(tune_cli, without_nvrtc_says_so) {
  static char out[1 << 16];
  setenv("FFTCONV_NVRTC", "/nonexistent", 1); /* this test's own process: popen passes it on */
  const char *args = "--dry-run --seqlen 256";
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  const char *want[] = {"fftconv-tune: no NVRTC: /nonexistent (FFTCONV_NVRTC) could not be "
                        "loaded (*); install the CUDA toolkit's NVRTC or plan from a tuned cache",
                        NULL};
  expect_lines(args, out, want);
}

/* --arch keeps the arch-specific suffix end to end: normalized, reported, compiled for. */
Test(tune_cli, arch_specific_target) {
  static char out[1 << 16];
  const char *args = "--dry-run --quiet --arch 90a --seqlen 256 --mode circular --template "
                     "monarch_fp32 --rigor estimate --op forward";
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  const char *want[] = {
      "device   * \\[compile only\\]",
      "compile  sm_90a, NVRTC *, * jobs; rigor estimate",
      "problems 1",
      "B8.H64.L256.K256.F0.fp16.circular.nopre.nopost.nod * compiled 1 of 1 for sm_90a",
      "", /* the table of a single problem */
      "   # fam *status*",
      "   0 fp32 * compiled *",
      NULL};
  expect_lines(args, out, want);
}

/* A tuning run asked for without a usable GPU (issue 17, 14): the compile-only check still
   runs, but the exit status is 3, as documented, not the 0 of success; --dry-run is 0. */
Test(tune_cli, no_gpu_tuning_run_exits_3) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) == FFTCONV_OK) {
    fftconv_ctx_destroy(probe);
    cr_skip_test("a GPU is present: the run would tune");
  }
  static char out[1 << 16];
  const char *args = "--quiet --rigor estimate --template monarch_fp32 --seqlen 256 --op forward";
  cr_assert_eq(run(args, out, sizeof out), 3, "%s", out);
  const char *want[] = {
      "fftconv-tune: no GPU to tune on: *",
      "fftconv-tune: running the compile-only check instead (--dry-run)",
      "device   * \\[compile only\\]",
      "compile  sm_90, NVRTC *, * jobs; rigor estimate",
      "problems 1",
      "B8.H64.L256.K256.F0.fp16.causal.nopre.nopost.nod * compiled 1 of 1 for sm_90",
      "", "   # fam *status*", "   0 fp32 * compiled *",
      "fftconv-tune: nothing was tuned: no GPU (*); the compile-only check ran instead. To tune, "
      "run fftconv-tune on a machine with an NVIDIA GPU and its driver.",
      NULL};
  expect_lines(args, out, want);
  char dry[256];
  snprintf(dry, sizeof dry, "--dry-run %s", args);
  cr_assert_eq(run(dry, out, sizeof out), 0, "%s", out);
}

/* --set long without a GPU (issue 17, 13): the quick check reports on the long set and its
   command of the full check names it; the exit status is 3 (a set was asked for). One family
   keeps it short. */
Test(tune_cli, no_gpu_quick_check_of_the_long_set) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) == FFTCONV_OK) {
    fftconv_ctx_destroy(probe);
    cr_skip_test("a GPU is present: --set long would tune it");
  }
  static char out[1 << 16];
  cr_assert_eq(run("--set long --template monarch_long --quiet", out, sizeof out), 3, "%s", out);
  const char *want[] = {
      "(--dry-run --rigor exhaustive --set long checks every candidate)",
      "each family's default choice for the 28 problems of the long set (",
      "The full compile-only check compiles every candidate of the long set,",
      "\n    fftconv-tune --dry-run --rigor exhaustive --set long --template monarch_long\n"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_assert(strstr(out, want[i]), "'%s' not in:\n%s", want[i], out);
  cr_assert_null(strstr(out, "default set"), "%s", out);
  cr_assert_null(strstr(out, "default problems"), "%s", out);
  cr_assert_null(strstr(out, "FAILED"), "%s", out);
}
