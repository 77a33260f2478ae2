/* test_rt_lib: libfftconv_rt, the runtime-only library (README, "libfftconv_rt").
 *  - libfftconv_rt.so needs nothing at load time but libc, libdl, libpthread and the dynamic
 *    loader (its NEEDED entries, read with readelf), and exports the public fftconv_* API
 *    alone (its defined dynamic symbols, read with nm);
 *  - rt-consumer, a program built against it alone (tests/rt_consumer.c), needs it and libc
 *    only, and says what is missing: without a GPU driver FFTCONV_ERR_NO_DRIVER with the
 *    driver's reason; for a missing or malformed bundle FFTCONV_ERR_IO naming the file, before
 *    the driver is asked. Where a GPU is present the context opens instead, and then says
 *    that it reads no cache and fails a miss naming what would provide a kernel. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fftconv.h"

/* The output of a command, NUL-terminated, into out. */
static void run(const char *cmd, char *out, size_t len) {
  FILE *f = popen(cmd, "r");
  cr_assert(f, "cannot run %s", cmd);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s failed:\n%s", cmd, out);
}

/* The NEEDED entries of an ELF file, one a line ("libc.so.6\n..."), into out. */
static void needed(const char *file, char *out, size_t len) {
  char cmd[4200], all[16384];
  snprintf(cmd, sizeof cmd, "readelf -d '%s'", file);
  run(cmd, all, sizeof all);
  size_t o = 0;
  out[0] = 0;
  for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
    char *a = strstr(line, "(NEEDED)"), *l = a ? strchr(a, '[') : NULL, *r = l ? strchr(l, ']') : NULL;
    if (!r) continue;
    o += (size_t)snprintf(out + o, len - o, "%.*s\n", (int)(r - l - 1), l + 1);
    cr_assert_lt(o, len);
  }
}

/* RT_SANITIZE: a -DFFTCONV_SANITIZE=ON build, whose every binary needs the sanitizer
   runtimes too. */
static int allowed(const char *lib, const char *const *ok) {
  if (RT_SANITIZE && (!strncmp(lib, "libasan.so", 10) || !strncmp(lib, "libubsan.so", 11) ||
                      !strncmp(lib, "libstdc++.so", 12) || !strncmp(lib, "libm.so", 7) ||
                      !strncmp(lib, "libgcc_s.so", 11)))
    return 1;
  for (; *ok; ok++)
    if (!strcmp(lib, *ok) || (!strncmp(*ok, "ld-linux", 8) && !strncmp(lib, "ld-linux", 8)))
      return 1;
  return 0;
}

Test(rt_lib, needs_only_libc_libdl_libpthread) {
  static const char *const ok[] = {"libc.so.6", "libdl.so.2", "libpthread.so.0", "ld-linux",
                                   NULL};
  char libs[4096];
  needed(RT_LIB, libs, sizeof libs);
  cr_assert(strstr(libs, "libc.so.6"), "libfftconv_rt.so needs no libc?\n%s", libs);
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", libs);
  for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n"))
    cr_expect(allowed(l, ok), "libfftconv_rt.so needs %s (it may need only libc, libdl, "
              "libpthread and the loader):\n%s", l, libs);
}

Test(rt_lib, exports_only_the_public_api) {
  char cmd[4200], out[65536];
  snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", RT_LIB);
  run(cmd, out, sizeof out);
  int n = 0, create = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    char *name = strrchr(line, ' ');
    name = name ? name + 1 : line;
    cr_expect(!strncmp(name, "fftconv_", 8), "libfftconv_rt.so exports %s", name);
    n++;
    create += !strcmp(name, "fftconv_ctx_create");
  }
  cr_assert_geq(n, 10, "only %d symbols exported", n);
  cr_assert_eq(create, 1, "fftconv_ctx_create is not exported");
}

Test(rt_lib, consumer_links_it_alone) {
  char libs[4096];
  needed(RT_CONSUMER, libs, sizeof libs);
  cr_assert(strstr(libs, "libfftconv_rt.so"), "rt-consumer does not need libfftconv_rt:\n%s", libs);
  cr_assert(!strstr(libs, "sqlite") && !strstr(libs, "lua") && !strstr(libs, "fftw") &&
            !strstr(libs, "libfftconv.so"), "rt-consumer needs more than libfftconv_rt:\n%s",
            libs);
}

/* rt-consumer's output for bundle argument arg (NULL: none). */
static void consumer(const char *arg, char *out, size_t len) {
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "'%s'%s%s%s 2>&1", RT_CONSUMER, arg ? " '" : "", arg ? arg : "",
           arg ? "'" : "");
  run(cmd, out, len);
}

Test(rt_lib, without_a_driver_says_what_is_missing) {
  char out[16384], want[64];
  consumer(NULL, out, sizeof out);
  snprintf(want, sizeof want, "status: %d (no CUDA driver)", FFTCONV_ERR_NO_DRIVER);
  if (strstr(out, want)) {
    cr_expect(strstr(out, "message: no CUDA driver: libcuda.so.1 could not be loaded"), "%s", out);
    return;
  }
  /* a GPU here: the context opened; it reads no cache and a miss names what would help */
  cr_expect(strstr(out, "status: 0 (ok)"), "%s", out);
  cr_expect(strstr(out, "cache: none (libfftconv_rt has no cache backend: link libfftconv to "
                        "plan from a tuned cache; cache_path /nonexistent/cache.db is not read)"),
            "%s", out);
  snprintf(want, sizeof want, "plan: %d (unsupported problem): no tuned kernel for ",
           FFTCONV_ERR_UNSUPPORTED);
  cr_expect(strstr(out, want), "%s", out);
  cr_expect(strstr(out, "libfftconv_rt plans from bundles only"), "%s", out);
  cr_expect(strstr(out, "fftconv-cache export"), "%s", out);
}

Test(rt_lib, a_missing_bundle_is_an_io_error) {
  char out[16384], want[64];
  consumer("/nonexistent/kernels", out, sizeof out);
  snprintf(want, sizeof want, "status: %d (I/O error)", FFTCONV_ERR_IO);
  cr_expect(strstr(out, want), "%s", out);
  cr_expect(strstr(out, "message: bundle /nonexistent/kernels: No such file or directory"),
            "%s", out);
}

Test(rt_lib, a_malformed_bundle_is_an_io_error) {
  char dir[] = "/tmp/fc_rt_lib_XXXXXX", path[64], out[16384], want[64];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"format\":", f);
  fclose(f);
  consumer(dir, out, sizeof out);
  unlink(path);
  rmdir(dir);
  snprintf(want, sizeof want, "status: %d (I/O error)", FFTCONV_ERR_IO);
  cr_expect(strstr(out, want), "%s", out);
  cr_expect(strstr(out, "/manifest.json: is not JSON (malformed)"), "%s", out);
}

Test(rt_lib, an_empty_bundle_is_refused_by_the_reader) {
  /* well-formed JSON with the right head: the reader runs past the parser and refuses a
     bundle with nothing in it */
  char dir[] = "/tmp/fc_rt_lib_XXXXXX", path[64], out[16384];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"format\":\"fftconv-bundle\",\"version\":1,\"modules\":[],\"entries\":[]}", f);
  fclose(f);
  consumer(dir, out, sizeof out);
  unlink(path);
  rmdir(dir);
  cr_expect(strstr(out, "has no entries (nothing was exported)"), "%s", out);
}
