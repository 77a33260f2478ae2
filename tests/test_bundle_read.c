/* The bundle reader on hostile input, without a GPU: fc_bundle_probe (what export asks before it
 * replaces a directory), and fc_bundle_open on directory bundles and compiled-in images that
 * are malformed, oversized, of the wrong kind (FIFOs, devices, links, directories) or lying
 * about their sizes. Each case checks the status and the message, and that nothing blocks or
 * crashes: FIFOs are made, never opened for long, and every test has a timeout. */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bundle.h"
#include "kernel.h"

static char dir[64];

static void rm_tree(const char *d) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  cr_assert_eq(system(cmd), 0);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-bundle-read-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void) { rm_tree(dir); }

TestSuite(bundle_read, .init = setup, .fini = teardown, .timeout = 60);

static void spit(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "open %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static const char fatbin[] = "not a real fatbin: the reader checks only its size and hash";
#define FATBIN "k000_monarch_fp32.fatbin"

/* A launch manifest the reader accepts (malloc'd). */
static char *launch_json(void) {
  fc_manifest m;
  fc_manifest_two_launch(&m, "fftconv_fwd", 256, 0, 1, "fftconv_prep", 128, 0, 1, 4097, 0,
                         "monarch_fp32.v1");
  char *mj = fc_manifest_json(&m);
  cr_assert(mj);
  return mj;
}

/* The module object of a good bundle: one fatbin (the one above), a cubin for sm_90. */
static void good_module(char *out, size_t len) {
  char *mj = launch_json();
  snprintf(out, len,
           "{\"file\":\"" FATBIN "\",\"bytes\":%zu,\"fnv1a64\":\"%016" PRIx64 "\","
           "\"cubins\":[\"sm_90\"],\"ptx\":null,\"template\":\"monarch_fp32\",\"revision\":1,"
           "\"hash\":\"0123456789abcdef\",\"params\":{\"seqs\":1},\"launch\":%s}",
           sizeof fatbin, fc_hash64(FC_HASH64_INIT, fatbin, sizeof fatbin), mj);
  free(mj);
}

#define GOOD_ENTRY                                                                            \
  "{\"problem\":\"B8.H64.L4096.K4096.F0.fp32.circular.pre.post.d\",\"module\":0,"             \
  "\"shape\":{\"batch\":8,\"heads\":64,\"seqlen\":4096,\"filter_len\":4096,\"freq_keep\":0,"  \
  "\"dtype\":\"fp32\",\"mode\":\"circular\",\"pre_gate\":1,\"post_gate\":1,\"skip_d\":1},"    \
  "\"filter_layout\":\"monarch_fp32.v1\",\"workspace_per_row\":0,\"workspace_fixed\":0,"      \
  "\"device\":\"NVIDIA H200\",\"sms\":132,\"driver\":13000,\"sm\":90,\"median_ms\":1.0}"

/* A whole manifest from its modules' and entries' array texts (malloc'd). */
static char *manifest(const char *modules, const char *entries) {
  size_t n = strlen(modules) + strlen(entries) + 256;
  char *s = malloc(n);
  cr_assert(s);
  snprintf(s, n,
           "{\"format\":\"fftconv-bundle\",\"version\":1,\"generator\":\"test\","
           "\"modules\":%s,\"entries\":%s}", modules, entries);
  return s;
}

/* The manifest text of the good bundle (malloc'd). */
static char *good_manifest(void) {
  char mod[4096], mods[4200];
  good_module(mod, sizeof mod);
  snprintf(mods, sizeof mods, "[%s]", mod);
  return manifest(mods, "[" GOOD_ENTRY "]");
}

/* dir/name as a bundle: manifest text (NULL: the good one) and the good fatbin. Returns the
   bundle's path (static: the next call reuses it). */
static const char *bundle_dir(const char *name, const char *text) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  cr_assert_eq(mkdir(path, 0777), 0, "mkdir %s: %s", path, strerror(errno));
  char p[512];
  snprintf(p, sizeof p, "%s/" FATBIN, path);
  spit(p, fatbin, sizeof fatbin);
  char *good = text ? NULL : good_manifest();
  snprintf(p, sizeof p, "%s/" FC_BUNDLE_MANIFEST, path);
  spit(p, text ? text : good, strlen(text ? text : good));
  free(good);
  return path;
}

static void probe_fails(const char *path, const char *want) {
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_probe(path, &e), FFTCONV_ERR_IO, "%s probed as a bundle", path);
  cr_assert(strstr(e.msg, want), "wanted '%s' in: %s", want, e.msg);
  char **names = (char **)1;
  int n = -1;
  cr_assert_eq(fc_bundle_probe_files(path, &names, &n, &e), FFTCONV_ERR_IO);
  cr_assert(!names && n == 0);
}

/* ---- fc_bundle_probe: what export --force may replace ---- */

Test(bundle_read, probe_takes_a_bundle_of_any_version_and_nothing_else) {
  fc_err e = {{0}};
  const char *b = bundle_dir("good", NULL);
  cr_assert_eq(fc_bundle_probe(b, &e), FFTCONV_OK, "%s", e.msg);
  char slash[300];
  snprintf(slash, sizeof slash, "%s//", b);
  cr_assert_eq(fc_bundle_probe(slash, &e), FFTCONV_OK, "a trailing slash: %s", e.msg);
  char **names = NULL;
  int n = 0;
  cr_assert_eq(fc_bundle_probe_files(b, &names, &n, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(names[0], FATBIN);
  free(names[0]);
  free(names);
  /* a newer version is still a bundle: export may replace it */
  bundle_dir("v7", "{\"format\":\"fftconv-bundle\",\"version\":7,\"modules\":[{\"file\":\"a\"},"
                   "{\"file\":\"b.fatbin\"}],\"future\":true}");
  char p[300];
  snprintf(p, sizeof p, "%s/v7", dir);
  cr_assert_eq(fc_bundle_probe(p, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_probe_files(p, &names, &n, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(names[1], "b.fatbin");
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  bundle_dir("nomod", "{\"format\":\"fftconv-bundle\",\"version\":1}");
  snprintf(p, sizeof p, "%s/nomod", dir);
  cr_assert_eq(fc_bundle_probe(p, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_probe_files(p, &names, &n, &e), FFTCONV_ERR_IO);
  cr_assert(strstr(e.msg, "nomod/manifest.json: has no \"modules\" array"), "%s", e.msg);
}

static void probe_text_fails(const char *name, const char *text, const char *want) {
  char p[300];
  bundle_dir(name, text);
  snprintf(p, sizeof p, "%s/%s", dir, name);
  probe_fails(p, want);
}

Test(bundle_read, probe_refuses_what_is_not_a_bundle) {
  char p[300], q[340];
  snprintf(p, sizeof p, "%s/none", dir);
  probe_fails(p, "none: No such file or directory");
  probe_fails("", "no directory given");
  snprintf(p, sizeof p, "%s/webapp", dir); /* issue 17, defect 2: a web app's manifest.json */
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(q, sizeof q, "%s/manifest.json", p);
  spit(q, "{\"name\":\"app\",\"start_url\":\"/\"}", 30);
  probe_fails(p, "webapp/manifest.json: is not an fftconv bundle manifest (no \"format\"");
  probe_text_fails("other", "{\"format\":\"other\",\"version\":1}", "its format is \"other\"");
  probe_text_fails("empty", "", "empty/manifest.json: is empty");
  probe_text_fails("blank", " \n", "blank/manifest.json: is empty");
  probe_text_fails("arr", "[1]", "is not an fftconv bundle manifest (JSON an array");
  probe_text_fails("bad", "{\"format\":", "bad/manifest.json: is not JSON");
  probe_text_fails("v0", "{\"format\":\"fftconv-bundle\",\"version\":0}", "has no format \"version\"");
  probe_text_fails("vs", "{\"format\":\"fftconv-bundle\",\"version\":\"1\"}", "has no format \"version\"");
  probe_text_fails("vr", "{\"format\":\"fftconv-bundle\",\"version\":1.5}", "has no format \"version\"");
  probe_text_fails("fmtarr", "{\"format\":[\"fftconv-bundle\"],\"version\":1}", "no \"format\"");
  /* the directory itself a link to a bundle (defect 3), a file, a FIFO */
  const char *b = bundle_dir("real", NULL);
  snprintf(p, sizeof p, "%s/link", dir);
  cr_assert_eq(symlink(b, p), 0);
  probe_fails(p, "link: is a symbolic link, not a bundle's directory");
  snprintf(q, sizeof q, "%s/link/", dir);
  probe_fails(q, "link: is a symbolic link, not a bundle's directory");
  snprintf(p, sizeof p, "%s/real/manifest.json", dir);
  probe_fails(p, "manifest.json: is a regular file, not a bundle's directory");
  snprintf(p, sizeof p, "%s/fifo", dir);
  cr_assert_eq(mkfifo(p, 0600), 0);
  probe_fails(p, "fifo: is a FIFO (named pipe), not a bundle's directory");
  /* its manifest a link, a FIFO, a directory, a device */
  snprintf(p, sizeof p, "%s/mlink", dir);
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/mlink/manifest.json", dir);
  snprintf(q, sizeof q, "%s/real/manifest.json", dir);
  cr_assert_eq(symlink(q, p), 0);
  snprintf(p, sizeof p, "%s/mlink", dir);
  probe_fails(p, "mlink/manifest.json: is a symbolic link: refused");
  snprintf(p, sizeof p, "%s/mfifo", dir);
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/mfifo/manifest.json", dir);
  cr_assert_eq(mkfifo(p, 0600), 0);
  snprintf(p, sizeof p, "%s/mfifo", dir);
  probe_fails(p, "mfifo/manifest.json: is a FIFO (named pipe), not a regular file: refused");
  snprintf(p, sizeof p, "%s/mdir", dir);
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/mdir/manifest.json", dir);
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/mdir", dir);
  probe_fails(p, "mdir/manifest.json: Is a directory");
  snprintf(p, sizeof p, "%s/mzero", dir);
  cr_assert_eq(mkdir(p, 0777), 0);
  snprintf(p, sizeof p, "%s/mzero/manifest.json", dir);
  cr_assert_eq(symlink("/dev/zero", p), 0);
  snprintf(p, sizeof p, "%s/mzero", dir);
  probe_fails(p, "mzero/manifest.json: is a symbolic link: refused");
  /* SQLite would read "a\u0000b" as "a": refused whole */
  probe_text_fails("nul", "{\"format\":\"fftconv-bundle\",\"version\":1,\"modules\":"
                   "[{\"file\":\"a\\u0000b\"}]}", "holds an escaped NUL character (\\u0000 at "
                   "offset 60)");
  probe_text_fails("nul2", "{\"format\":\"fftconv-bundle\\u0000\",\"version\":1}",
                   "holds an escaped NUL");
}

Test(bundle_read, probe_files_refuses_names_a_writer_must_not_remove) {
  static const struct {
    const char *file, *want;
  } cases[] = {
      {"\"../etc\"", "modules[1].file holds a '/'"},
      {"\"/etc/passwd\"", "modules[1].file holds a '/'"},
      {"\".bashrc\"", "modules[1].file starts with '.'"},
      {"\"..\"", "modules[1].file starts with '.'"},
      {"\"\"", "modules[1].file is empty"},
      {"\"manifest.json\"", "modules[1].file is the manifest's own name"},
      {"\"a\\u001b[31mb\"", "modules[1].file holds a control character (\"a\\x1b[31mb\")"},
      {"17", "modules[1].file is not a string"},
      {"null", "modules[1].file is not a string"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[512], name[32], p[300];
    snprintf(text, sizeof text, "{\"format\":\"fftconv-bundle\",\"version\":1,\"modules\":"
             "[{\"file\":\"ok.fatbin\"},{\"file\":%s}]}", cases[i].file);
    snprintf(name, sizeof name, "n%zu", i);
    bundle_dir(name, text);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    fc_err e = {{0}};
    cr_assert_eq(fc_bundle_probe(p, &e), FFTCONV_OK, "%s: %s", cases[i].file, e.msg);
    char **names = NULL;
    int n = 0;
    cr_assert_eq(fc_bundle_probe_files(p, &names, &n, &e), FFTCONV_ERR_IO, "%s", cases[i].file);
    cr_assert(!names && n == 0);
    cr_assert(strstr(e.msg, cases[i].want), "%s: wanted '%s' in: %s", cases[i].file,
              cases[i].want, e.msg);
  }
}
