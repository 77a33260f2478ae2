/* The bundle reader on hostile input, without a GPU: fc_bundle_probe (what export asks before it
 * replaces a directory), and fc_bundle_open on directory bundles and compiled-in images that
 * are malformed, oversized, of the wrong kind (FIFOs, devices, links, directories) or lying
 * about their sizes. Each case checks the status and the message, and that nothing blocks or
 * crashes: FIFOs are made, never opened for long, and every test has a timeout. */
#include <criterion/criterion.h>

#include "tree.h"
#include <criterion/parameterized.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_int.h"
#include "kernel.h"

static char dir[64];


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

/* ---- a file that changes between its size and its read ---- */

Test(bundle_read, a_file_that_grows_or_shrinks_while_read_is_refused) {
  char p[300], why[256];
  snprintf(p, sizeof p, "%s/f", dir);
  spit(p, fatbin, sizeof fatbin);
  int64_t size = 0;
  int refused = 0;
  char *data = NULL;
  int fd = fc_bundle_open_regular(p, &size, &refused, why, sizeof why);
  cr_assert_geq(fd, 0, "%s", why);
  cr_assert_eq(size, (int64_t)sizeof fatbin);
  FILE *f = fopen(p, "ab"); /* grows after its size was taken */
  cr_assert(f);
  fputs("more", f);
  fclose(f);
  cr_assert_eq(fc_bundle_read_exactly(fd, (size_t)size, &data, why, sizeof why), -1);
  cr_assert_null(data);
  cr_assert(strstr(why, "grew while it was read (it was 60 bytes)"), "%s", why);
  fd = fc_bundle_open_regular(p, &size, &refused, why, sizeof why);
  cr_assert_geq(fd, 0, "%s", why);
  cr_assert_eq(truncate(p, 10), 0); /* shrinks */
  cr_assert_eq(fc_bundle_read_exactly(fd, (size_t)size, &data, why, sizeof why), -1);
  cr_assert(strstr(why, "shrank while it was read (10 of 64 bytes)"), "%s", why);
  fd = fc_bundle_open_regular(p, &size, &refused, why, sizeof why);
  cr_assert_geq(fd, 0, "%s", why);
  cr_assert_eq(fc_bundle_read_exactly(fd, (size_t)size, &data, why, sizeof why), 0, "%s", why);
  cr_assert_eq(memcmp(data, fatbin, 10), 0);
  free(data);
}

/* ---- the sweep: fc_bundle_open on bad bundles, one case a test ---- */

/* A field of the good manifest: its key and JSON value (NULL: computed, see field_value). */
typedef struct kv {
  const char *k, *v;
} kv;

static const kv mod_kv[] = {
    {"file", "\"" FATBIN "\""}, {"bytes", NULL}, {"fnv1a64", NULL}, {"cubins", "[\"sm_90\"]"},
    {"ptx", "null"}, {"template", "\"monarch_fp32\""}, {"revision", "1"},
    {"hash", "\"0123456789abcdef\""}, {"params", "{\"seqs\":1}"}, {"launch", NULL}};
static const kv ent_kv[] = {
    {"problem", "\"B8.H64.L4096.K4096.F0.fp32.circular.pre.post.d\""}, {"module", "0"},
    {"shape", NULL}, {"filter_layout", "\"monarch_fp32.v1\""}, {"workspace_per_row", "0"},
    {"workspace_fixed", "0"}, {"device", "\"NVIDIA H200\""}, {"sms", "132"},
    {"driver", "13000"}, {"sm", "90"}, {"median_ms", "1.0"}};
static const kv shape_kv[] = {
    {"batch", "8"}, {"heads", "64"}, {"seqlen", "4096"}, {"filter_len", "4096"},
    {"freq_keep", "0"}, {"dtype", "\"fp32\""}, {"mode", "\"circular\""}, {"pre_gate", "1"},
    {"post_gate", "1"}, {"skip_d", "1"}};

/* v with its tokens expanded into out: @S<n> a JSON string of n x's, @Z<n> an array of n
   zeros, @R<n> n good modules, @D<n> n arrays nested, @M the good module, @E the good entry;
   anything else as it is. */
static void expand(fc_str *out, const char *v);

/* The JSON object of fields f (n of them), with field `field` replaced by value (NULL: left
   out), where `field` is one of them, or added when it is not. */
static void object(fc_str *out, const kv *f, int n, char which, char target, const char *field,
                   const char *value) {
  fc_str_add(out, "{");
  int seen = 0, first = 1;
  for (int i = 0; i < n; i++) {
    const char *v = f[i].v;
    char buf[64];
    fc_str sub = {0};
    if (which == 'm' && !strcmp(f[i].k, "bytes")) {
      snprintf(buf, sizeof buf, "%zu", sizeof fatbin);
      v = buf;
    } else if (which == 'm' && !strcmp(f[i].k, "fnv1a64")) {
      snprintf(buf, sizeof buf, "\"%016" PRIx64 "\"",
               fc_hash64(FC_HASH64_INIT, fatbin, sizeof fatbin));
      v = buf;
    } else if (which == 'm' && !strcmp(f[i].k, "launch")) {
      char *mj = launch_json();
      fc_str_add(&sub, "%s", mj);
      free(mj);
      v = sub.s;
    } else if (which == 'e' && !strcmp(f[i].k, "shape")) {
      object(&sub, shape_kv, sizeof shape_kv / sizeof *shape_kv, 's', target, field, value);
      v = sub.s;
    }
    if (target == which && field && !strcmp(field, f[i].k)) {
      seen = 1;
      if (!value) {
        fc_str_free(&sub);
        continue;
      }
      fc_str t = {0};
      expand(&t, value);
      fc_str_add(out, "%s\"%s\":%s", first ? "" : ",", f[i].k, t.s);
      fc_str_free(&t);
    } else {
      fc_str_add(out, "%s\"%s\":%s", first ? "" : ",", f[i].k, v);
    }
    first = 0;
    fc_str_free(&sub);
  }
  if (target == which && field && value && !seen) {
    fc_str t = {0};
    expand(&t, value);
    fc_str_add(out, "%s\"%s\":%s", first ? "" : ",", field, t.s);
    fc_str_free(&t);
  }
  fc_str_add(out, "}");
}

static void expand(fc_str *out, const char *v) {
  for (const char *p = v; *p; p++) {
    if (p[0] == '@' && (p[1] == 'S' || p[1] == 'Z')) {
      char *end;
      long n = strtol(p + 2, &end, 10);
      if (p[1] == 'S') {
        fc_str_add(out, "\"");
        for (long i = 0; i < n; i++) fc_str_addn(out, "x", 1);
        fc_str_add(out, "\"");
      } else {
        fc_str_add(out, "[");
        for (long i = 0; i < n; i++) fc_str_addn(out, i ? ",0" : "0", i ? 2 : 1);
        fc_str_add(out, "]");
      }
      p = end - 1;
    } else if (p[0] == '@' && (p[1] == 'R' || p[1] == 'D')) {
      char *end;
      long n = strtol(p + 2, &end, 10);
      for (long i = 0; i < n; i++) /* @R: n good modules; @D: n nested arrays */
        if (p[1] == 'R') {
          if (i) fc_str_add(out, ",");
          object(out, mod_kv, sizeof mod_kv / sizeof *mod_kv, 'm', 0, NULL, NULL);
        } else {
          fc_str_add(out, "[");
        }
      for (long i = 0; p[1] == 'D' && i < n; i++) fc_str_add(out, "]");
      p = end - 1;
    } else if (p[0] == '@' && p[1] == 'M') {
      object(out, mod_kv, sizeof mod_kv / sizeof *mod_kv, 'm', 0, NULL, NULL);
      p++;
    } else if (p[0] == '@' && p[1] == 'E') {
      object(out, ent_kv, sizeof ent_kv / sizeof *ent_kv, 'e', 0, NULL, NULL);
      p++;
    } else {
      fc_str_addn(out, p, 1);
    }
  }
  cr_assert(!out->oom);
}

/* What a case sets up beside (or instead of) the manifest. */
enum {
  F_NONE,
  /* a module's fatbin */
  F_FIFO_FATBIN, F_ZERO_FATBIN, F_OUT_LINK, F_DIR_FATBIN, F_SOCKET_FATBIN, F_BIG_FATBIN,
  F_MISSING_FATBIN, F_TRUNC_FATBIN, F_LONGER_FATBIN, F_ALTERED_FATBIN,
  /* the manifest */
  F_NUL_MANIFEST, F_FIFO_MANIFEST, F_ZERO_MANIFEST, F_DIR_MANIFEST, F_BIG_MANIFEST, F_EMPTY_MANIFEST,
  F_LINK_MANIFEST, F_NO_MANIFEST,
  /* the path given */
  F_PATH_FIFO, F_PATH_EMPTY, F_PATH_MANIFEST, F_PATH_LINK_DIR, F_PATH_NONE, F_PATH_CTRL,
  F_PATH_LONG,
  /* compiled-in images */
  I_GOOD, I_V2, I_V0, I_VNEG, I_NO_MANIFEST, I_SIZE0, I_SIZE_LONG, I_SIZE_SHORT, I_SIZE_HUGE,
  I_NFILES_NEG, I_NFILES_HUGE, I_FILES_NULL, I_NAME_NULL, I_DATA_NULL, I_NAME_SLASH,
  I_NAME_LONG, I_FILE_SIZE, I_FILE_MISSING, I_FILE_TOO_BIG, I_DATA_NULL_SIZE0, I_NOT_BUNDLE,
  I_ALTERED,
};

typedef struct sweep_case {
  const char *name;
  char target;        /* 'm' a module's field, 'e' an entry's, 's' its shape's, 't' the whole
                         manifest (value), 0 the good manifest */
  const char *field;  /* the field replaced */
  const char *value;  /* its JSON (tokens: expand); NULL: left out */
  int setup;          /* F_ or I_ */
  const char *want;   /* in the message; NULL: the bundle opens */
  const char *unwanted; /* never in the message (a link's target's size) */
} sweep_case;

#define HEAD "{\"format\":\"fftconv-bundle\",\"version\":1,"

static sweep_case sweep_cases[] = {
    {"the good bundle opens", 0, NULL, NULL, F_NONE, NULL, NULL},
    /* the manifest as a whole (defects 7 and 10) */
    {"empty text", 't', NULL, "", F_NONE, "manifest.json: is empty", NULL},
    {"white space", 't', NULL, " \n\t ", F_NONE, "manifest.json: is empty (only white space", NULL},
    {"malformed", 't', NULL, "{\"format\":", F_NONE, "manifest.json: is not JSON (malformed)", NULL},
    {"a NUL byte", 0, NULL, NULL, F_NUL_MANIFEST, "manifest.json: is not JSON (it holds a NUL byte at offset 27)", NULL},
    {"an array", 't', NULL, "[@M]", F_NONE, "is not an fftconv bundle manifest (JSON an array", NULL},
    {"a number", 't', NULL, "42", F_NONE, "is not an fftconv bundle manifest (JSON integer", NULL},
    {"no format", 't', NULL, "{\"version\":1}", F_NONE, "no \"format\": \"fftconv-bundle\")", NULL},
    {"another format", 't', NULL, "{\"format\":\"fftconv-bundle2\",\"version\":1}", F_NONE,
     "its format is \"fftconv-bundle2\"", NULL},
    {"format escape", 't', NULL, "{\"format\":\"\\u001b[2J\",\"version\":1}", F_NONE,
     "its format is \"\\x1b[2J\"", NULL},
    {"no version", 't', NULL, "{\"format\":\"fftconv-bundle\"}", F_NONE,
     "has no format \"version\" (a positive integer)", NULL},
    {"version 0", 't', NULL, "{\"format\":\"fftconv-bundle\",\"version\":0}", F_NONE,
     "has no format \"version\"", NULL},
    {"version a string", 't', NULL, "{\"format\":\"fftconv-bundle\",\"version\":\"1\"}", F_NONE,
     "has no format \"version\"", NULL},
    {"version 2", 't', NULL, "{\"format\":\"fftconv-bundle\",\"version\":2,\"modules\":[],"
     "\"entries\":[]}", F_NONE, "has format version 2, newer than this library reads (1)", NULL},
    {"version huge", 't', NULL, "{\"format\":\"fftconv-bundle\",\"version\":99999999999}",
     F_NONE, "has format version 99999999999, newer", NULL},
    {"escaped NUL", 't', NULL, HEAD "\"modules\":[],\"entries\":[],\"x\":\"\\u0000\"}", F_NONE,
     "holds an escaped NUL character", NULL},
    {"no modules", 't', NULL, HEAD "\"entries\":[]}", F_NONE,
     "has no \"modules\" and \"entries\" arrays (\"modules\" is missing)", NULL},
    {"modules an object", 't', NULL, HEAD "\"modules\":{},\"entries\":[]}", F_NONE,
     "has no \"modules\" and \"entries\" arrays (\"modules\" is an object)", NULL},
    {"entries a string", 't', NULL, HEAD "\"modules\":[],\"entries\":\"x\"}", F_NONE,
     "(\"entries\" is a string)", NULL},
    {"30 M modules (issue 17)", 't', NULL, HEAD "\"modules\":@Z30000000,\"entries\":[]}", F_NONE,
     "has 30000000 modules, more than a bundle may hold (4096): not read", NULL},
    {"4096 modules, the most", 't', NULL, HEAD "\"modules\":[@R4096],\"entries\":[@E]}", F_NONE,
     NULL, NULL},
    {"arrays nested 100000 deep", 't', NULL, HEAD "\"modules\":@D100000,\"entries\":[]}", F_NONE,
     "manifest.json: is not JSON (malformed)", NULL},
    {"a byte-order mark", 't', NULL, "\xef\xbb\xbf" HEAD "\"modules\":[],\"entries\":[]}", F_NONE,
     "manifest.json: is not JSON (it starts with a UTF-8 byte-order mark, which JSON does not "
     "allow)", NULL},
    {"4097 modules", 't', NULL, HEAD "\"modules\":@Z4097,\"entries\":[]}", F_NONE,
     "has 4097 modules, more than a bundle may hold (4096)", NULL},
    {"65537 entries", 't', NULL, HEAD "\"modules\":[],\"entries\":@Z65537}", F_NONE,
     "has 65537 entries, more than a bundle may hold (65536)", NULL},
    {"no entries", 't', NULL, HEAD "\"modules\":[@M],\"entries\":[]}", F_NONE,
     "has no entries (nothing was exported)", NULL},
    {"a module not an object", 't', NULL, HEAD "\"modules\":[0],\"entries\":[]}", F_NONE,
     "modules[0] is an integer, not an object", NULL},
    {"a module a string", 't', NULL, HEAD "\"modules\":[@M,\"k.fatbin\"],\"entries\":[]}", F_NONE,
     "modules[1] is a string, not an object", NULL},
    {"an entry null", 't', NULL, HEAD "\"modules\":[@M],\"entries\":[@E,null]}", F_NONE,
     "entries[1] is null, not an object", NULL},
    /* a module's fields (defect 10) */
    {"file missing", 'm', "file", NULL, F_NONE,
     "modules[0] has no \"file\" (a string of 1 to 127 characters)", NULL},
    {"file empty", 'm', "file", "\"\"", F_NONE, "modules[0].file is empty", NULL},
    {"file a number", 'm', "file", "7", F_NONE, "modules[0].file is an integer, not a string", NULL},
    {"file null", 'm', "file", "null", F_NONE, "modules[0].file is null, not a string", NULL},
    {"file 300 long", 'm', "file", "@S300", F_NONE, "modules[0].file is 300 characters, at most 127", NULL},
    {"file up", 'm', "file", "\"../" FATBIN "\"", F_NONE, "modules[0].file holds a '/'", NULL},
    {"file absolute", 'm', "file", "\"/etc/passwd\"", F_NONE, "modules[0].file holds a '/'", NULL},
    {"file hidden", 'm', "file", "\".x\"", F_NONE, "modules[0].file starts with '.'", NULL},
    {"file dot", 'm', "file", "\".\"", F_NONE, "modules[0].file starts with '.'", NULL},
    {"file control", 'm', "file", "\"a\\u001bb\"", F_NONE,
     "modules[0].file holds a control character (\"a\\x1bb\")", NULL},
    {"file the manifest", 'm', "file", "\"manifest.json\"", F_NONE, "is the manifest's own name", NULL},
    {"bytes missing", 'm', "bytes", NULL, F_NONE,
     "modules[0] has no \"bytes\" (an integer from 1 to 268435456)", NULL},
    {"bytes a string", 'm', "bytes", "\"60\"", F_NONE, "modules[0].bytes is a string, not an integer", NULL},
    {"bytes a fraction", 'm', "bytes", "60.5", F_NONE, "modules[0].bytes is a number with a fraction", NULL},
    {"bytes negative", 'm', "bytes", "-1", F_NONE, "modules[0].bytes is -1, not from 1 to 268435456", NULL},
    {"bytes zero", 'm', "bytes", "0", F_NONE, "modules[0].bytes is 0, not from 1", NULL},
    {"bytes 8 GB", 'm', "bytes", "8589934592", F_NONE,
     "modules[0].bytes is 8589934592, more than a fatbin may be (268435456)", NULL},
    {"bytes past int64", 'm', "bytes", "99999999999999999999", F_NONE,
     "modules[0].bytes is a number past 64 bits, not an integer from 1 to 268435456", NULL},
    {"fnv missing", 'm', "fnv1a64", NULL, F_NONE, "modules[0] has no \"fnv1a64\"", NULL},
    {"fnv short", 'm', "fnv1a64", "\"abc\"", F_NONE,
     "modules[0].fnv1a64 is \"abc\", not 16 lowercase hexadecimal digits", NULL},
    {"fnv not hex", 'm', "fnv1a64", "\"0123456789abcdeg\"", F_NONE, "not 16 lowercase hexadecimal", NULL},
    {"fnv a number", 'm', "fnv1a64", "123", F_NONE, "modules[0].fnv1a64 is an integer", NULL},
    {"cubins missing", 'm', "cubins", NULL, F_NONE, "modules[0] has no \"cubins\" (an array)", NULL},
    {"cubins a string", 'm', "cubins", "\"sm_90\"", F_NONE, "modules[0].cubins is a string, not an array", NULL},
    {"9 cubins", 'm', "cubins", "[\"sm_80\",\"sm_86\",\"sm_87\",\"sm_89\",\"sm_90\",\"sm_90a\","
     "\"sm_100\",\"sm_120\",\"sm_75\"]", F_NONE, "modules[0].cubins names 9 architectures, at most 8", NULL},
    {"8 cubins", 'm', "cubins", "[\"sm_80\",\"sm_86\",\"sm_87\",\"sm_89\",\"sm_90\",\"sm_90a\","
     "\"sm_100\",\"sm_120\"]", F_NONE, NULL, NULL},
    {"a million cubins", 'm', "cubins", "@Z1000000", F_NONE, "names 1000000 architectures, at most 8", NULL},
    {"cubin a number", 'm', "cubins", "[90]", F_NONE, "modules[0].cubins[0] is an integer, not a string (sm_XY)", NULL},
    {"cubin bogus", 'm', "cubins", "[\"sm_90\",\"bogus\"]", F_NONE,
     "modules[0].cubins[1] is \"bogus\", not an architecture (sm_XY)", NULL},
    {"cubin PTX", 'm', "cubins", "[\"compute_90\"]", F_NONE, "is \"compute_90\", not an architecture", NULL},
    {"cubin quote", 'm', "cubins", "[\"sm_\\\"9\"]", F_NONE, "is \"sm_\"9\", not an architecture", NULL},
    {"cubin long", 'm', "cubins", "[@S5000]", F_NONE, "modules[0].cubins[0] is \"xxxxxxxx", NULL},
    {"no cubin nor PTX", 'm', "cubins", "[]", F_NONE, "holds neither a cubin nor PTX", NULL},
    {"ptx missing", 'm', "ptx", NULL, F_NONE, NULL, NULL},
    {"ptx only", 'm', "cubins", "[]", F_NONE, "holds neither", NULL},
    {"ptx a cubin", 'm', "ptx", "\"sm_80\"", F_NONE,
     "modules[0].ptx is \"sm_80\", not an architecture (compute_XY) or null", NULL},
    {"ptx a number", 'm', "ptx", "80", F_NONE, "modules[0].ptx is an integer, not a string", NULL},
    {"ptx bogus", 'm', "ptx", "\"compute_xx\"", F_NONE, "modules[0].ptx is \"compute_xx\"", NULL},
    {"ptx long", 'm', "ptx", "@S100", F_NONE, "modules[0].ptx is 100 characters, at most 15", NULL},
    {"template missing", 'm', "template", NULL, F_NONE, "modules[0] has no \"template\"", NULL},
    {"template long", 'm', "template", "@S300", F_NONE,
     "modules[0].template is 300 characters, at most 63", NULL},
    {"template an array", 'm', "template", "[]", F_NONE, "modules[0].template is an array, not a string", NULL},
    {"revision negative", 'm', "revision", "-1", F_NONE, "modules[0].revision is -1, not from 0 to 2147483647", NULL},
    {"revision huge", 'm', "revision", "4294967296", F_NONE, "modules[0].revision is 4294967296", NULL},
    {"revision a string", 'm', "revision", "\"1\"", F_NONE, "modules[0].revision is a string, not an integer", NULL},
    {"hash empty", 'm', "hash", "\"\"", F_NONE, "modules[0].hash is empty", NULL},
    {"hash long", 'm', "hash", "\"0123456789abcdef0\"", F_NONE, "modules[0].hash is 17 characters, at most 16", NULL},
    {"params missing", 'm', "params", NULL, F_NONE, "modules[0] has no \"params\" (an object)", NULL},
    {"params an array", 'm', "params", "[1]", F_NONE, "modules[0].params is an array, not an object", NULL},
    {"launch missing", 'm', "launch", NULL, F_NONE, "modules[0] has no \"launch\" (an object)", NULL},
    {"launch a string", 'm', "launch", "\"{}\"", F_NONE, "modules[0].launch is a string, not an object", NULL},
    {"launch empty", 'm', "launch", "{}", F_NONE, "its launch manifest is not valid", NULL},
    /* an entry's fields */
    {"problem missing", 'e', "problem", NULL, F_NONE, "entries[0] has no \"problem\" (a string of 1 to 255", NULL},
    {"problem 300 long", 'e', "problem", "@S300", F_NONE, "entries[0].problem is 300 characters, at most 255", NULL},
    {"problem a MB long", 'e', "problem", "@S1000000", F_NONE, "entries[0].problem is 1000000 characters, at most 255", NULL},
    {"problem a number", 'e', "problem", "1", F_NONE, "entries[0].problem is an integer, not a string", NULL},
    {"problem not its shape's", 'e', "problem", "\"B1.H1.L4096.K4096.F0.fp32.circular.pre.post.d\"", F_NONE,
     "entries[0]: its key B1.H1.L4096.K4096.F0.fp32.circular.pre.post.d is not its shape's", NULL},
    {"problem escapes", 'e', "problem", "\"\\u001b]0;pwned\\u0007\"", F_NONE,
     "entries[0].problem holds a control character (\"\\x1b]0;pwned\\x07\")", NULL},
    {"device escapes", 'e', "device", "\"H200\\r\\u001b[2K\"", F_NONE,
     "entries[0].device holds a control character (\"H200\\x0d\\x1b[2K\")", NULL},
    {"template a newline", 'm', "template", "\"monarch_fp32\\nok\"", F_NONE,
     "modules[0].template holds a control character (\"monarch_fp32\\nok\")", NULL},
    {"problem UTF-8", 'e', "problem", "\"B8\\u00e9\"", F_NONE,
     "entries[0]: its key B8\u00e9 is not its shape's", NULL},
    {"module missing", 'e', "module", NULL, F_NONE, "entries[0] has no \"module\"", NULL},
    {"module past the end", 'e', "module", "1", F_NONE, "names module 1, and the bundle has 1", NULL},
    {"module negative", 'e', "module", "-1", F_NONE, "entries[0].module is -1, not from 0", NULL},
    {"module a string", 'e', "module", "\"0\"", F_NONE, "entries[0].module is a string, not an integer", NULL},
    {"shape missing", 'e', "shape", NULL, F_NONE, "entries[0] has no \"shape\" (an object)", NULL},
    {"shape an array", 'e', "shape", "[8,64]", F_NONE, "entries[0].shape is an array, not an object", NULL},
    {"batch missing", 's', "batch", NULL, F_NONE, "entries[0] has no \"shape.batch\" (an integer)", NULL},
    {"batch a string", 's', "batch", "\"8\"", F_NONE, "entries[0].shape.batch is a string, not an integer", NULL},
    {"batch zero", 's', "batch", "0", F_NONE, "its shape is not a valid problem", NULL},
    {"seqlen huge", 's', "seqlen", "4611686018427387904", F_NONE, "its shape is not a valid problem", NULL},
    {"seqlen past int64", 's', "seqlen", "9223372036854775808", F_NONE,
     "entries[0].shape.seqlen is a number past 64 bits, not an integer", "9223372036854775807"},
    {"dtype fp8", 's', "dtype", "\"fp8\"", F_NONE, "entries[0].shape.dtype is \"fp8\", not fp32, fp16 or bf16", NULL},
    {"dtype a number", 's', "dtype", "16", F_NONE, "entries[0].shape.dtype is an integer", NULL},
    {"mode sideways", 's', "mode", "\"sideways\"", F_NONE, "entries[0].shape.mode is \"sideways\", not causal or circular", NULL},
    {"pre_gate 2", 's', "pre_gate", "2", F_NONE, "entries[0].shape.pre_gate is 2, not from 0 to 1", NULL},
    {"skip_d true", 's', "skip_d", "true", F_NONE, "entries[0].shape.skip_d is a boolean, not an integer", NULL},
    {"device 300 long (issue 17)", 'e', "device", "@S300", F_NONE, "entries[0].device is 300 characters, at most 255", NULL},
    {"device a number", 'e', "device", "7", F_NONE, "entries[0].device is an integer, not a string", NULL},
    {"device empty", 'e', "device", "\"\"", F_NONE, NULL, NULL},
    {"sm negative", 'e', "sm", "-90", F_NONE, "entries[0].sm is -90, not from 0 to 9999", NULL},
    {"sm a string", 'e', "sm", "\"90\"", F_NONE, "entries[0].sm is a string, not an integer", NULL},
    {"median missing", 'e', "median_ms", NULL, F_NONE,
     "entries[0] has no \"median_ms\" (a time in milliseconds: a number, 0 or more)", NULL},
    {"median a string", 'e', "median_ms", "\"fast\"", F_NONE,
     "entries[0].median_ms is a string, not a time in milliseconds", NULL},
    {"median negative", 'e', "median_ms", "-1", F_NONE, "entries[0].median_ms is -1, not a time", NULL},
    {"median an integer", 'e', "median_ms", "2", F_NONE, NULL, NULL},
    /* an entry's op (optional, forward when absent) and the JSON reader's strings */
    {"op forward", 'e', "op", "\"forward\"", F_NONE, NULL, NULL},
    {"op unknown", 'e', "op", "\"no_such_op\"", F_NONE,
     "entries[0].op is \"no_such_op\", not an op this library knows (forward", NULL},
    {"op a number", 'e', "op", "1", F_NONE, "entries[0].op is an integer, not a string", NULL},
    {"op empty", 'e', "op", "\"\"", F_NONE, "entries[0].op is empty", NULL},
    {"device a surrogate pair", 'e', "device", "\"H200 \\ud83d\\ude00\"", F_NONE, NULL, NULL},
    {"a lone surrogate", 't', NULL, HEAD "\"modules\":[],\"entries\":[],\"x\":\"\\ud800\"}", F_NONE,
     "manifest.json: is not JSON (malformed): lone surrogate in \\u escape at byte", NULL},
    {"a leading zero", 't', NULL, HEAD "\"modules\":[],\"entries\":[],\"x\":01}", F_NONE,
     "manifest.json: is not JSON (malformed): expected ',' or '}' at byte", NULL},
    /* files that are not what the manifest says (defect 8) */
    {"fatbin a FIFO", 0, NULL, NULL, F_FIFO_FATBIN,
     "module " FATBIN " is a FIFO (named pipe), not a regular file: refused", NULL},
    {"fatbin a link to /dev/zero", 0, NULL, NULL, F_ZERO_FATBIN,
     "module " FATBIN " is a symbolic link: refused", NULL},
    {"fatbin a link out", 0, NULL, NULL, F_OUT_LINK, "module " FATBIN " is a symbolic link: refused",
     "123457"},
    {"fatbin a directory", 0, NULL, NULL, F_DIR_FATBIN, "module " FATBIN " is a directory, not a regular file: refused", NULL},
    {"fatbin a socket", 0, NULL, NULL, F_SOCKET_FATBIN, "module " FATBIN " is a socket, not a regular file", NULL},
    {"fatbin 8 GB", 0, NULL, NULL, F_BIG_FATBIN,
     "module " FATBIN " is 8589934592 bytes, the manifest says 60 (truncated or replaced): not read", NULL},
    {"fatbin missing", 0, NULL, NULL, F_MISSING_FATBIN,
     "module " FATBIN " is missing or unreadable (", NULL},
    {"fatbin truncated", 0, NULL, NULL, F_TRUNC_FATBIN, "module " FATBIN " is 10 bytes, the manifest says 60", NULL},
    {"fatbin longer", 0, NULL, NULL, F_LONGER_FATBIN, "module " FATBIN " is 61 bytes, the manifest says 60", NULL},
    {"fatbin altered", 0, NULL, NULL, F_ALTERED_FATBIN, "does not match its hash", NULL},
    {"manifest a FIFO", 0, NULL, NULL, F_FIFO_MANIFEST,
     "manifest.json: is a FIFO (named pipe), not a regular file: refused", NULL},
    {"manifest a link to /dev/zero", 0, NULL, NULL, F_ZERO_MANIFEST, "manifest.json: is a symbolic link: refused", NULL},
    {"manifest a directory", 0, NULL, NULL, F_DIR_MANIFEST,
     "manifest.json: Is a directory (a bundle's manifest is a regular file)", NULL},
    {"manifest 65 MiB", 0, NULL, NULL, F_BIG_MANIFEST,
     "manifest.json: is 68157440 bytes, more than a manifest may be (67108864 bytes, 64 MiB): not read", NULL},
    {"manifest an empty file", 0, NULL, NULL, F_EMPTY_MANIFEST, "manifest.json: is empty", NULL},
    {"manifest a link", 0, NULL, NULL, F_LINK_MANIFEST, "manifest.json: is a symbolic link: refused", NULL},
    {"manifest missing", 0, NULL, NULL, F_NO_MANIFEST,
     "manifest.json: No such file or directory (not an fftconv bundle", NULL},
    {"path a FIFO", 0, NULL, NULL, F_PATH_FIFO, "is a FIFO (named pipe), not a regular file: refused", NULL},
    {"path empty", 0, NULL, NULL, F_PATH_EMPTY, "no path given (an empty string)", NULL},
    {"path the manifest", 0, NULL, NULL, F_PATH_MANIFEST, NULL, NULL},
    {"path a link to the directory", 0, NULL, NULL, F_PATH_LINK_DIR, NULL, NULL},
    {"path nowhere", 0, NULL, NULL, F_PATH_NONE, "nowhere: No such file or directory", NULL},
    {"path with an escape", 0, NULL, NULL, F_PATH_CTRL, "no\\x1b[31mwhere: No such file", NULL},
    {"path too long", 0, NULL, NULL, F_PATH_LONG, "the path is too long", NULL},
    /* compiled-in images (defect 9) */
    {"image good", 0, NULL, NULL, I_GOOD, NULL, NULL},
    {"image version 2", 0, NULL, NULL, I_V2,
     "compiled-in bundle: its image is of version 2, newer than this library reads (1)", NULL},
    {"image version 0", 0, NULL, NULL, I_V0, "its image is of version 0, which is no version", NULL},
    {"image version -1", 0, NULL, NULL, I_VNEG, "its image is of version -1, which is no version", NULL},
    {"image no manifest", 0, NULL, NULL, I_NO_MANIFEST, "its image has no manifest (its manifest is NULL)", NULL},
    {"image manifest_size 0", 0, NULL, NULL, I_SIZE0, "its image has an empty manifest (manifest_size 0)", NULL},
    {"image manifest_size past the text", 0, NULL, NULL, I_SIZE_LONG,
     "has a manifest_size of 1010 bytes, and its manifest's text ends at 1000", NULL},
    {"image manifest_size short of the text", 0, NULL, NULL, I_SIZE_SHORT,
     "manifest.json: is not JSON (malformed) (is the image's manifest_size, ", NULL},
    {"image manifest_size huge", 0, NULL, NULL, I_SIZE_HUGE, "more than a manifest may be", NULL},
    {"image nfiles -1", 0, NULL, NULL, I_NFILES_NEG, "its image has nfiles -1, not from 0 to 4096", NULL},
    {"image nfiles 2^30", 0, NULL, NULL, I_NFILES_HUGE, "its image has nfiles 1073741824, not from 0 to 4096", NULL},
    {"image files NULL", 0, NULL, NULL, I_FILES_NULL, "its image has 1 files and no array of them (files is NULL)", NULL},
    {"image name NULL", 0, NULL, NULL, I_NAME_NULL, "its image has files[0] without a name (NULL)", NULL},
    {"image data NULL (issue 17)", 0, NULL, NULL, I_DATA_NULL,
     "its image has files[0] (" FATBIN ") of 60 bytes without data (NULL)", NULL},
    {"image name a path", 0, NULL, NULL, I_NAME_SLASH, "its image has files[0] whose name holds a '/'", NULL},
    {"image name 300 long", 0, NULL, NULL, I_NAME_LONG, "its image has files[0] whose name is longer than 127", NULL},
    {"image file of other size", 0, NULL, NULL, I_FILE_SIZE, "module " FATBIN " is 59 bytes, the manifest says 60", NULL},
    {"image file missing", 0, NULL, NULL, I_FILE_MISSING,
     "module " FATBIN " is missing: the compiled-in bundle has no file of that name", NULL},
    {"image file too big", 0, NULL, NULL, I_FILE_TOO_BIG,
     "its image has files[0] (" FATBIN ") of 1099511627776 bytes, more than a fatbin may be", NULL},
    {"image file empty", 0, NULL, NULL, I_DATA_NULL_SIZE0, "module " FATBIN " is 0 bytes, the manifest says 60", NULL},
    {"image not a bundle", 0, NULL, NULL, I_NOT_BUNDLE,
     "(compiled in) manifest.json: is not an fftconv bundle manifest", NULL},
    {"image altered", 0, NULL, NULL, I_ALTERED, "does not match its hash", NULL},
};

#define NCASES (sizeof sweep_cases / sizeof *sweep_cases)

/* Each test gets the case's index: Criterion copies the parameters into a test process of
   its own, where the cases' pointers would not hold. */
ParameterizedTestParameters(bundle_read, sweep) {
  static int idx[NCASES];
  for (size_t i = 0; i < NCASES; i++) idx[i] = (int)i;
  return cr_make_param_array(int, idx, NCASES);
}

/* The case's manifest text (malloc'd). */
static char *case_manifest(const sweep_case *c) {
  fc_str s = {0};
  if (c->target == 't') {
    expand(&s, c->value);
  } else {
    fc_str_add(&s, "{\"format\":\"fftconv-bundle\",\"version\":1,\"generator\":\"test\","
                   "\"modules\":[");
    object(&s, mod_kv, sizeof mod_kv / sizeof *mod_kv, 'm', c->target, c->field, c->value);
    fc_str_add(&s, "],\"entries\":[");
    object(&s, ent_kv, sizeof ent_kv / sizeof *ent_kv, 'e', c->target, c->field, c->value);
    fc_str_add(&s, "]}");
  }
  cr_assert(!s.oom);
  if (!s.s) fc_str_addn(&s, "", 0);
  return s.s;
}

static void must(int ok, const char *what) { cr_assert(ok, "%s: %s", what, strerror(errno)); }

/* Sets up the case's files: the bundle at dir/b (its path in path), changed as c->setup says. */
static void case_files(const sweep_case *c, const char *text, char *path, size_t len) {
  char b[128], f[256], m[256], other[256];
  snprintf(b, sizeof b, "%s/b", dir);
  must(mkdir(b, 0777) == 0, "mkdir");
  snprintf(f, sizeof f, "%s/" FATBIN, b);
  snprintf(m, sizeof m, "%s/" FC_BUNDLE_MANIFEST, b);
  snprintf(other, sizeof other, "%s/other", dir);
  spit(f, fatbin, sizeof fatbin);
  spit(m, text, strlen(text));
  snprintf(path, len, "%s", b);
  switch (c->setup) {
  case F_FIFO_FATBIN: must(unlink(f) == 0 && mkfifo(f, 0600) == 0, "fifo"); break;
  case F_ZERO_FATBIN: must(unlink(f) == 0 && symlink("/dev/zero", f) == 0, "link"); break;
  case F_OUT_LINK: {
    char big[123457];
    memset(big, 'z', sizeof big);
    spit(other, big, sizeof big);
    must(unlink(f) == 0 && symlink(other, f) == 0, "link");
    break;
  }
  case F_DIR_FATBIN: must(unlink(f) == 0 && mkdir(f, 0777) == 0, "dir"); break;
  case F_SOCKET_FATBIN: {
    must(unlink(f) == 0, "unlink");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 -c \"import socket; socket.socket(socket.AF_UNIX)"
             ".bind('%s')\" 2>/dev/null", f);
    if (system(cmd) != 0) cr_skip_test("no python3 to make a socket");
    break;
  }
  case F_BIG_FATBIN: must(truncate(f, 8ll << 30) == 0, "truncate"); break;
  case F_MISSING_FATBIN: must(unlink(f) == 0, "unlink"); break;
  case F_TRUNC_FATBIN: must(truncate(f, 10) == 0, "truncate"); break;
  case F_LONGER_FATBIN: must(truncate(f, sizeof fatbin + 1) == 0, "truncate"); break;
  case F_ALTERED_FATBIN: {
    char x[sizeof fatbin];
    memcpy(x, fatbin, sizeof x);
    x[5] ^= 4;
    spit(f, x, sizeof x);
    break;
  }
  case F_NUL_MANIFEST: {
    static const char nul[] = "{\"format\":\"fftconv-bundle\",\0\"version\":1}";
    spit(m, nul, sizeof nul - 1);
    break;
  }
  case F_FIFO_MANIFEST: must(unlink(m) == 0 && mkfifo(m, 0600) == 0, "fifo"); break;
  case F_ZERO_MANIFEST: must(unlink(m) == 0 && symlink("/dev/zero", m) == 0, "link"); break;
  case F_DIR_MANIFEST: must(unlink(m) == 0 && mkdir(m, 0777) == 0, "dir"); break;
  case F_BIG_MANIFEST: must(truncate(m, 65ll << 20) == 0, "truncate"); break;
  case F_EMPTY_MANIFEST: must(truncate(m, 0) == 0, "truncate"); break;
  case F_LINK_MANIFEST:
    must(rename(m, other) == 0 && symlink(other, m) == 0, "link");
    break;
  case F_NO_MANIFEST: must(unlink(m) == 0, "unlink"); break;
  case F_PATH_FIFO:
    must(mkfifo(other, 0600) == 0, "fifo");
    snprintf(path, len, "%s", other);
    break;
  case F_PATH_EMPTY: snprintf(path, len, "%s", ""); break;
  case F_PATH_MANIFEST: snprintf(path, len, "%s", m); break;
  case F_PATH_LINK_DIR:
    must(symlink(b, other) == 0, "link");
    snprintf(path, len, "%s", other);
    break;
  case F_PATH_NONE: snprintf(path, len, "%s/nowhere", dir); break;
  case F_PATH_CTRL: snprintf(path, len, "%s/no\x1b[31mwhere", dir); break;
  case F_PATH_LONG: {
    size_t n = snprintf(path, len, "%s/", dir);
    while (n + 1 < len && n < 6000) path[n++] = 'a';
    path[n] = 0;
    break;
  }
  default: break;
  }
}

/* The case's compiled-in image, over the case's manifest text. */
static void case_image(const sweep_case *c, const char *text, fftconv_bundle_image *img,
                       fftconv_bundle_file *file, char *room, size_t roomlen) {
  static unsigned char altered[sizeof fatbin];
  static char longname[301];
  *file = (fftconv_bundle_file){FATBIN, (const unsigned char *)fatbin, sizeof fatbin};
  *img = (fftconv_bundle_image){FFTCONV_BUNDLE_IMAGE_VERSION, text, strlen(text), 1, file};
  switch (c->setup) {
  case I_V2: img->version = 2; break;
  case I_V0: img->version = 0; break;
  case I_VNEG: img->version = -1; break;
  case I_NO_MANIFEST: img->manifest = NULL; break;
  case I_SIZE0: img->manifest_size = 0; break;
  case I_SIZE_LONG: /* the text, 1000 bytes of it, in a room 10 bytes longer */
    memset(room, ' ', 1000);
    memcpy(room, text, strlen(text) < 1000 ? strlen(text) : 1000);
    memset(room + 1000, 0, roomlen - 1000);
    img->manifest = room;
    img->manifest_size = 1010;
    break;
  case I_SIZE_SHORT: img->manifest_size = strlen(text) - 5; break;
  case I_SIZE_HUGE: img->manifest_size = (size_t)-1; break;
  case I_NFILES_NEG: img->nfiles = -1; break;
  case I_NFILES_HUGE: img->nfiles = 1 << 30; break;
  case I_FILES_NULL: img->files = NULL; break;
  case I_NAME_NULL: file->name = NULL; break;
  case I_DATA_NULL: file->data = NULL; break;
  case I_NAME_SLASH: file->name = "../" FATBIN; break;
  case I_NAME_LONG:
    memset(longname, 'n', 300);
    file->name = longname;
    break;
  case I_FILE_SIZE: file->size = sizeof fatbin - 1; break;
  case I_FILE_MISSING: img->nfiles = 0; break;
  case I_FILE_TOO_BIG: file->size = 1ull << 40; break;
  case I_DATA_NULL_SIZE0: file->data = NULL, file->size = 0; break;
  case I_NOT_BUNDLE: img->manifest = "{}", img->manifest_size = 2; break;
  case I_ALTERED:
    memcpy(altered, fatbin, sizeof fatbin);
    altered[0] ^= 1;
    file->data = altered;
    break;
  default: break;
  }
}

/* A message a person reads: bounded, no control characters (a manifest's are escaped). */
static void message_is_clean(const char *msg) {
  cr_assert(strlen(msg) < 1200, "a message of %zu bytes: %.300s...", strlen(msg), msg);
  for (const char *p = msg; *p; p++)
    cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "a control character (0x%02x) in: %s",
              (unsigned char)*p, msg);
}

ParameterizedTest(int *ci, bundle_read, sweep, .timeout = 60) {
  const sweep_case *c = &sweep_cases[*ci];
  char *text = case_manifest(c);
  char path[8192];
  static char room[1100];
  fftconv_bundle_image img;
  fftconv_bundle_file file;
  int image = c->setup >= I_GOOD;
  if (image) case_image(c, text, &img, &file, room, sizeof room);
  else case_files(c, text, path, sizeof path);
  fc_bundle *b = NULL;
  fc_err e = {{0}};
  fftconv_status st = fc_bundle_open(image ? NULL : path, image ? &img : NULL, &b, &e);
  if (getenv("FC_SWEEP_PRINT")) /* the messages, for a person to read over */
    fprintf(stderr, "%-40s %d %s\n", c->name, st, e.msg);
  if (!c->want) {
    cr_assert_eq(st, FFTCONV_OK, "%s: %s", c->name, e.msg);
    cr_assert_eq(fc_bundle_entries(b), 1, "%s", c->name);
    fc_bundle_close(b);
    free(text);
    return;
  }
  cr_assert_eq(st, FFTCONV_ERR_IO, "%s: status %d (%s)", c->name, st, e.msg);
  cr_assert_null(b);
  cr_assert(strstr(e.msg, c->want), "%s: wanted '%s' in: %.2000s", c->name, c->want, e.msg);
  if (c->unwanted) cr_assert(!strstr(e.msg, c->unwanted), "%s: '%s' in: %s", c->name, c->unwanted, e.msg);
  message_is_clean(e.msg);
  /* the public API on any machine: the bundle is read before the driver is asked */
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.bundle_path = image ? NULL : path;
  o.bundle_image = image ? &img : NULL;
  fftconv_ctx *ctx = NULL;
  cr_assert_eq(fftconv_ctx_create(&o, &ctx), FFTCONV_ERR_IO, "%s: through the API", c->name);
  cr_assert_null(ctx);
  cr_assert(strstr(fftconv_ctx_error(NULL), c->want), "%s: the API's message: %s", c->name,
            fftconv_ctx_error(NULL));
  free(text);
}
