/* plan-child: plans from a tuned cache and runs forward, for test_gpu_runtime to run with
 * NVRTC hidden from the loader (a driver, a cache, no toolkit: how an application ships).
 *
 *   plan-child [--bundle DIR | --image LIB] CACHE KEY...
 *
 * CACHE "none" consults no cache. --bundle plans from an exported bundle first; --image from
 * a bundle compiled to machine code: LIB is a shared object built from fftconv-cache export's
 * --c-source file, whose fftconv_bundle image is handed to the context (bundle_image). Under
 * either, a plan that does not come from the bundle is a failure.
 * Each KEY is "N:MODE:DTYPE:B:H" (MODE circular runs L = N; causal L = N/2 - 3, with both
 * gates and D). Every problem is planned under the fallback policy, run on random inputs with
 * a NaN-poisoned output and checked against the fp64 reference; a line
 *   ok <describe> err=<relative error>
 * or
 *   fail <problem key> <status>: <message>
 * is printed for each. Then "nvrtc loaded: yes|no" (whether libnvrtc is mapped in this
 * process) and "nvrtc reachable: yes|no" (whether the loader could find it). Exits 0 when
 * every line is ok and within tolerance, 1 otherwise, 2 on bad usage. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "verify.h"

static int parse(const char *s, fftconv_problem *p) {
  long long n, b, h;
  char mode[16], dt[8];
  if (sscanf(s, "%lld:%15[a-z]:%7[a-z0-9]:%lld:%lld", &n, mode, dt, &b, &h) != 5) return 0;
  fftconv_problem_init(p);
  p->batch = b;
  p->heads = h;
  p->mode = !strcmp(mode, "causal") ? FFTCONV_CAUSAL : FFTCONV_CIRCULAR;
  p->seqlen = p->mode == FFTCONV_CAUSAL ? n / 2 - 3 : n;
  p->dtype = !strcmp(dt, "fp32") ? FFTCONV_FP32 : !strcmp(dt, "bf16") ? FFTCONV_BF16 : FFTCONV_FP16;
  p->pre_gate = p->post_gate = p->skip_d = 1;
  return 1;
}

int main(int argc, char **argv) {
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  int a = 1;
  if (a + 1 < argc && !strcmp(argv[a], "--bundle")) {
    o.bundle_path = argv[a + 1];
    a += 2;
  } else if (a + 1 < argc && !strcmp(argv[a], "--image")) {
    void *lib = dlopen(argv[a + 1], RTLD_NOW | RTLD_LOCAL);
    const void *img = lib ? dlsym(lib, "fftconv_bundle") : NULL;
    if (!img) {
      printf("fail --image %s: %s\n", argv[a + 1], dlerror());
      return 1;
    }
    o.bundle_image = img;
    a += 2;
  }
  if (argc - a < 2) {
    fprintf(stderr, "usage: plan-child [--bundle DIR | --image LIB] CACHE N:MODE:DTYPE:B:H...\n");
    return 2;
  }
  if (!strcmp(argv[a], "none"))
    o.no_cache = 1;
  else
    o.cache_path = argv[a];
  argv += a - 1;
  argc -= a - 1;
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(&o, &c) != FFTCONV_OK) {
    printf("fail context: %s\n", fftconv_ctx_error(NULL));
    return 1;
  }
  int bad = 0;
  for (int i = 2; i < argc; i++) {
    fftconv_problem p;
    char key[256];
    if (!parse(argv[i], &p)) {
      fprintf(stderr, "plan-child: '%s' is not N:MODE:DTYPE:B:H\n", argv[i]);
      return 2;
    }
    fftconv_problem_key(&p, key, sizeof key);
    fftconv_plan *pl = NULL;
    fftconv_status st = fftconv_plan_create(c, &p, &pl);
    if (st != FFTCONV_OK) {
      printf("fail %s %s: %s\n", key, fftconv_status_string(st), fftconv_ctx_error(c));
      bad = 1;
      continue;
    }
    fc_testdata t;
    fc_err e = {{0}};
    double err = -1;
    st = fc_testdata_make(&p, 11, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e);
    if (st == FFTCONV_OK) {
      st = fc_verify_plan(pl, &t, &err, &e);
      fc_testdata_free(&t);
    }
    int from_bundle = strstr(fftconv_plan_describe(pl), "[bundle: ") != NULL;
    if ((o.bundle_path || o.bundle_image) && !from_bundle) {
      printf("fail %s not from the bundle: %s\n", key, fftconv_plan_describe(pl));
      bad = 1;
    } else if (st != FFTCONV_OK || !(err <= fc_tolerance(p.dtype))) {
      printf("fail %s %s: %s (error %.3e)\n", key, fftconv_status_string(st), e.msg, err);
      bad = 1;
    } else if (fftconv_plan_backward_status(pl) == FFTCONV_OK) {
      /* the plan's backward too, against the fp64 gradients */
      double berr = -1;
      st = fc_testdata_make_op(NULL, FC_OP_BACKWARD, &p, 12, FC_TD_REFERENCE | FC_TD_DEVICE, &t,
                               &e);
      if (st == FFTCONV_OK) {
        st = fc_verify_backward(pl, &t, &berr, &e);
        fc_testdata_free(&t);
      }
      if (st != FFTCONV_OK || !(berr <= fc_tolerance(p.dtype))) {
        printf("fail %s backward %s: %s (error %.3e)\n", key, fftconv_status_string(st), e.msg,
               berr);
        bad = 1;
      } else {
        printf("ok %s err=%.3e bwd_err=%.3e\n", fftconv_plan_describe(pl), err, berr);
      }
    } else {
      printf("ok %s err=%.3e\n", fftconv_plan_describe(pl), err);
    }
    fftconv_plan_destroy(pl);
  }
  fftconv_ctx_destroy(c);
  void *h = dlopen("libnvrtc.so.13", RTLD_NOW | RTLD_NOLOAD);
  printf("nvrtc loaded: %s\n", h ? "yes" : "no");
  if (h) dlclose(h);
  h = dlopen("libnvrtc.so.13", RTLD_LAZY | RTLD_LOCAL);
  printf("nvrtc reachable: %s\n", h ? "yes" : "no");
  return bad;
}
