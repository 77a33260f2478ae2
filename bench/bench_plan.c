/* bench-plan: what a cache hit costs an application. Fills a fresh cache with a realistic
 * number of rows (--kernels kernels, each measured on --problems problem shapes), then times
 *   1. fc_cache_lookup alone (the SQL: exact key, then nearest shape), on the CPU;
 *   2. fftconv_plan_create on a hit (lookup + module load from the stored cubin), first for a
 *      kernel not yet loaded in the context and then for one already loaded (shared module),
 *      on the GPU when there is one;
 *   3. the same from a bundle (the winner exported by fftconv-cache export): module loaded
 *      (the driver reads the fatbin), with plain cubins (--compress ptx) and compressed ones
 *      (the default), and shared.
 * Prints medians and the 10th/90th percentiles over --iters calls, against the targets
 * (lookup <= 50 us, plan_create <= 2 ms from the cache; from a bundle <= 500 us with a module
 * load, <= 20 us shared). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "search.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *us, int n, double target_us) {
  qsort(us, (size_t)n, sizeof *us, cmp);
  double med = us[n / 2];
  printf("| %-44s | %9.1f | %9.1f | %9.1f | %6d | %8.0f | %s |\n", what, med, us[n / 10],
         us[n - 1 - n / 10], n, target_us, med <= target_us ? "met" : "MISSED");
}

/* plan_create of `want` n times, each in a new context of o (the module is loaded each
   time), into us. 0 on a failure (said). */
static int time_fresh(const fftconv_ctx_options *o, const fftconv_problem *want, double *us,
                      int n) {
  for (int i = 0; i < n; i++) {
    fftconv_ctx *c = NULL;
    fftconv_plan *pl = NULL;
    if (fftconv_ctx_create(o, &c) != FFTCONV_OK) {
      fprintf(stderr, "bench-plan: %s\n", fftconv_ctx_error(NULL));
      return 0;
    }
    double t0 = fc_now();
    fftconv_status st = fftconv_plan_create(c, want, &pl);
    us[i] = (fc_now() - t0) * 1e6;
    if (st != FFTCONV_OK) fprintf(stderr, "bench-plan: plan_create: %s\n", fftconv_ctx_error(c));
    fftconv_plan_destroy(pl);
    fftconv_ctx_destroy(c);
    if (st != FFTCONV_OK) return 0;
  }
  return 1;
}

/* The same n times in one context of o (the module is shared). */
static int time_shared(const fftconv_ctx_options *o, const fftconv_problem *want, double *us,
                       int n) {
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(o, &c) != FFTCONV_OK) {
    fprintf(stderr, "bench-plan: %s\n", fftconv_ctx_error(NULL));
    return 0;
  }
  int ok = 1;
  for (int i = 0; i < n && ok; i++) {
    fftconv_plan *pl = NULL;
    double t0 = fc_now();
    ok = fftconv_plan_create(c, want, &pl) == FFTCONV_OK;
    us[i] = (fc_now() - t0) * 1e6;
    if (!ok) fprintf(stderr, "bench-plan: plan_create: %s\n", fftconv_ctx_error(c));
    fftconv_plan_destroy(pl);
  }
  fftconv_ctx_destroy(c);
  return ok;
}

int main(int argc, char **argv) {
  int kernels = 300, problems = 20, iters = 2000;
  static const struct option opts[] = {{"kernels", 1, 0, 'k'}, {"problems", 1, 0, 'p'},
                                       {"iters", 1, 0, 'i'},   {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (o == 'k') kernels = atoi(optarg);
    else if (o == 'p') problems = atoi(optarg);
    else if (o == 'i') iters = atoi(optarg);
    else {
      fputs("usage: bench-plan [--kernels K] [--problems P] [--iters N]\n", o == 'h' ? stdout : stderr);
      return o == 'h' ? 0 : 2;
    }
  }
  if (kernels < 1 || problems < 1 || iters < 10) {
    fputs("bench-plan: --kernels, --problems >= 1 and --iters >= 10\n", stderr);
    return 2;
  }
  char dir[] = "/tmp/fftconv-benchplan-XXXXXX", path[256];
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/cache.db", dir);

  fftconv_ctx *ctx = NULL;
  fftconv_ctx_options co;
  fftconv_ctx_options_init(&co);
  co.no_cache = 1;
  int gpu = fftconv_ctx_create(&co, &ctx) == FFTCONV_OK;
  fc_device_info dev;
  if (gpu) dev = ctx->gpu.info;
  else fc_device_info_for_arch(90, &dev);
  int maj, min;
  fc_nvrtc_version(&maj, &min);
  char nvrtc[16], hash[17];
  snprintf(nvrtc, sizeof nvrtc, "%d.%d", maj, min);
  fc_err e = {{0}};
  fc_template_hash("monarch_fp32", hash, &e);
  const char *hashes[] = {hash};
  fc_cache_config cfg = {&dev, dev.sm, nvrtc};
  fc_cache *w = NULL;
  if (fc_cache_open(path, 1, &w, &e) != FFTCONV_OK) {
    fprintf(stderr, "bench-plan: %s\n", e.msg);
    return 1;
  }
  printf("device   %s\n", gpu ? fftconv_ctx_device(ctx) : "none (lookup only)");
  printf("cache    %s: %d kernels x %d problem shapes\n", path, kernels, problems);

  /* The problem the application asks for, tuned for real when there is a GPU. */
  fftconv_problem want;
  fftconv_problem_init(&want);
  want.batch = 8;
  want.heads = 64;
  want.seqlen = 4096;
  want.dtype = FFTCONV_FP16;
  want.mode = FFTCONV_CIRCULAR;
  want.pre_gate = want.post_gate = 1;
  if (gpu) {
    fc_search_opts so;
    fc_search_defaults(FC_RIGOR_ESTIMATE, &so);
    so.tmpl = "monarch_fp32", so.jobs = 8, so.runs = 20, so.warmup = 2, so.cache = w, so.cfg = &cfg;
    fc_search sr;
    int64_t kid = 0;
    if (fc_search_run(ctx, &want, &dev, &so, &sr, &e) != FFTCONV_OK ||
        fc_cache_update_winner(w, &cfg, &want, hashes, 1, &kid, &e) != FFTCONV_OK || !kid) {
      fprintf(stderr, "bench-plan: tuning the benchmark problem: %s\n", e.msg);
      return 1;
    }
    fc_search_free(&sr);
  }
  /* Filler: other kernels measured on other shapes, and winners for them. */
  static char cubin[4096];
  for (int k = 0; k < kernels; k++) {
    char params[128];
    snprintf(params, sizeof params, "{\"filler\":%d}", k);
    fc_cache_kernel ck = {.tmpl = "monarch_fp32", .revision = 1, .hash = hash, .params = params,
                          .sm = dev.sm, .nvrtc = nvrtc, .source = "filler", .cubin = cubin,
                          .cubin_size = sizeof cubin};
    fc_manifest_two_launch(&ck.manifest, "fftconv_fwd", 64, 0, 1, "fftconv_prep", 64, 0, 1, 1, 0,
                           "monarch_fp32.v1");
    int64_t id;
    if (fc_cache_put_kernel(w, &ck, &id, &e) != FFTCONV_OK) {
      fprintf(stderr, "bench-plan: %s\n", e.msg);
      return 1;
    }
    for (int q = 0; q < problems; q++) {
      fftconv_problem fp = want;
      fp.batch = 1 + q;
      fp.seqlen = 256 << (q % 6);
      fp.dtype = q % 2 ? FFTCONV_BF16 : FFTCONV_FP16;
      if (fp.seqlen == want.seqlen && fp.dtype == want.dtype) fp.heads = 3; /* not want */
      fc_cache_measurement m = {.problem = &fp, .kernel_id = id, .status = "ok",
                                .median_ms = 1.0 + k, .p10_ms = 1.0, .p90_ms = 1.0, .runs = 20,
                                .rel_err = 1e-4, .rigor = fc_rigor_name(FC_RIGOR_MEASURE)};
      if (fc_cache_put_measurement(w, &cfg, &m, &e) != FFTCONV_OK) {
        fprintf(stderr, "bench-plan: %s\n", e.msg);
        return 1;
      }
      if (k == kernels - 1) fc_cache_update_winner(w, &cfg, &fp, hashes, 1, &id, &e);
    }
  }
  fc_cache_close(w);

  fc_cache *r = NULL;
  if (fc_cache_open(path, 0, &r, &e) != FFTCONV_OK) {
    fprintf(stderr, "bench-plan: %s\n", e.msg);
    return 1;
  }
  double *us = malloc((size_t)iters * sizeof *us);
  printf("\n| %-44s | %9s | %9s | %9s | %6s | %8s | %s |\n", "operation", "median us", "p10 us",
         "p90 us", "calls", "target", "");
  printf("|---|---:|---:|---:|---:|---:|---|\n");
  fftconv_problem near = want;
  near.batch = 2; /* not tuned itself: the nearest shape's winner */
  const fftconv_problem *asks[] = {&want, &near};
  const char *names[] = {"fc_cache_lookup, exact key", "fc_cache_lookup, nearest shape"};
  for (int a = 0; a < 2; a++) {
    if (!gpu && a == 0) continue; /* without a GPU the benchmark problem was not tuned */
    for (int i = 0; i < iters; i++) {
      fc_cache_hit h = {0};
      int found = 0;
      double t0 = fc_now();
      fftconv_status st = fc_cache_lookup(r, &cfg, asks[a], hashes, 1, &h, &found, &e);
      us[i] = (fc_now() - t0) * 1e6;
      fc_cache_hit_free(&h);
      if (st != FFTCONV_OK || (gpu && !found)) {
        fprintf(stderr, "bench-plan: lookup: %s (found %d)\n", e.msg, found);
        return 1;
      }
    }
    report(names[a], us, iters, 50);
  }
  fc_cache_close(r);
  if (gpu) {
    fftconv_ctx_destroy(ctx);
    co.no_cache = 0;
    co.cache_path = path;
    co.policy = FFTCONV_POLICY_TUNED_ONLY;
    int n = iters < 200 ? iters : 200;
    if (!time_fresh(&co, &want, us, n)) return 1;
    report("fftconv_plan_create, hit, module loaded", us, n, 2000);
    if (!time_shared(&co, &want, us, iters)) return 1;
    report("fftconv_plan_create, hit, module shared", us, iters, 2000);

    /* The same winner exported as a bundle (fftconv-cache export): the context reads it
       once; a plan loads its fatbin with the driver, or shares the module already loaded. */
    char bundle[300], key[256];
    fftconv_problem_key(&want, key, sizeof key);
    fftconv_ctx_options bo;
    fftconv_ctx_options_init(&bo);
    bo.no_cache = 1;
    bo.policy = FFTCONV_POLICY_TUNED_ONLY;
    bo.bundle_path = bundle;
    for (int plain = 1; plain >= 0; plain--) { /* --compress ptx, then the default (all) */
      snprintf(bundle, sizeof bundle, "%s/bundle%s", dir, plain ? "-plain" : "");
      fc_export_opts xo = {.cache_path = path, .out = bundle, .problem = key,
                           .plain_cubins = plain};
      fc_export_result xr;
      if (fc_export(&xo, &xr, &e) != FFTCONV_OK) {
        fprintf(stderr, "bench-plan: export: %s\n", e.msg);
        return 1;
      }
      if (!time_fresh(&bo, &want, us, n)) return 1;
      report(plain ? "plan_create, bundle, module loaded, plain cubins"
                   : "fftconv_plan_create, bundle, module loaded", us, n, 500);
    }
    if (!time_shared(&bo, &want, us, iters)) return 1;
    report("fftconv_plan_create, bundle, module shared", us, iters, 20);
  }
  free(us);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
