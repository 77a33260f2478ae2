/* shipped.h: what the GPU tests of programs that plan from stored kernels share (the runtime
   without NVRTC, bundles): a cache fftconv-tune filled, and a loader path without NVRTC for a
   child process that must run the way an application ships (a driver, no toolkit). */
#ifndef FC_SHIPPED_H
#define FC_SHIPPED_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fftconv.h"
#include "run_tool.h"

/* Skips the test with a message where no GPU is present. Otherwise makes dir (a mkdtemp
   template, changed in place), writes the problem set `lines` (fftconv-tune's --problems
   form) to dir/set.txt and tunes it into dir/cache.db at rigor estimate (each problem's
   built-in choice, verified and timed) with fftconv-tune: $FFTCONV_TUNE, else tune_bin.
   cache gets the cache's path. */
static inline void tune_set_or_skip(char *dir, const char *lines, const char *tune_bin,
                                    char *cache, size_t len) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) != FFTCONV_OK)
    cr_skip_test("no GPU: %s", fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(probe);
  cr_assert(mkdtemp(dir));
  snprintf(cache, len, "%s/cache.db", dir);
  char set[512], args[2048];
  static char out[1 << 16];
  snprintf(set, sizeof set, "%s/set.txt", dir);
  FILE *f = fopen(set, "w");
  cr_assert(f, "%s", set);
  fputs(lines, f);
  fclose(f);
  snprintf(args, sizeof args, "--cache %s --problems %s --rigor estimate --quiet", cache, set);
  cr_assert_eq(run_tool("FFTCONV_TUNE", tune_bin, args, out, sizeof out), 0, "%s", out);
}

/* dir/libs, a directory of links to every library on LD_LIBRARY_PATH except libnvrtc*, for
   a child whose loader must not find NVRTC there; its path into buf. (A system directory of
   the loader's may still hold NVRTC: the child also gets FFTCONV_NVRTC pointing at nothing.) */
static inline void hidden_path(const char *dir, char *buf, size_t len) {
  char links[300];
  snprintf(links, sizeof links, "%s/libs", dir);
  mkdir(links, 0700);
  const char *lp = getenv("LD_LIBRARY_PATH");
  char *copy = strdup(lp ? lp : "");
  for (char *d = strtok(copy, ":"); d; d = strtok(NULL, ":")) {
    DIR *dh = opendir(d);
    if (!dh) continue;
    for (struct dirent *de; (de = readdir(dh));) {
      if (de->d_name[0] == '.' || !strncmp(de->d_name, "libnvrtc", 8)) continue;
      char from[4096], to[4096];
      snprintf(from, sizeof from, "%s/%s", d, de->d_name);
      snprintf(to, sizeof to, "%s/%s", links, de->d_name);
      if (symlink(from, to) != 0) { /* the first directory that has it wins, as for ld.so */
      }
    }
    closedir(dh);
  }
  free(copy);
  snprintf(buf, len, "%s", links);
}

#endif
