/* make_seeds: writes the seed corpora of fuzz_manifest and fuzz_bundle from what this build's
 * templates emit, so that the fuzzers start from real manifests and bundles:
 *   make-seeds DIR      writes DIR/manifest/ and DIR/bundle/ (fuzz/corpus in the repository)
 * Launch manifests are each family's default kernel for a few problems; bundles are those
 * kernels exported as fftconv-cache export writes them, with small stand-in fatbins (the
 * reader checks a fatbin's size and hash, not its contents), in fuzz_bundle's input form. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emit.h"
#include "gpu.h"
#include "kernel.h"
#include "util.h"

static void put(const char *dir, const char *name, const char *text, size_t n) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "make-seeds: cannot write %s\n", p);
    exit(1);
  }
}

typedef struct seed {
  const char *tmpl;
  int64_t seqlen;
  fftconv_dtype dtype;
  fftconv_mode mode;
} seed;

/* An entry of the bundle for problem p, served by module `module`. */
static void entry(fc_str *b, const char *key, int module, const seed *s, const fftconv_problem *p,
                  const char *layout) {
  fc_str_add(b, "{\"problem\":\"%s\",\"module\":%d,\"shape\":{\"batch\":3,\"heads\":5,"
             "\"seqlen\":%" PRId64 ",\"filter_len\":%" PRId64 ",\"freq_keep\":0,\"dtype\":"
             "\"%s\",\"mode\":\"%s\",\"pre_gate\":1,\"post_gate\":1,\"skip_d\":%d},"
             "\"filter_layout\":\"%s\",\"workspace_per_row\":0,\"workspace_fixed\":0,"
             "\"device\":\"NVIDIA H100 80GB HBM3\",\"sms\":132,\"driver\":13000,\"sm\":90,"
             "\"median_ms\":0.125}", key, module, s->seqlen, s->seqlen,
             fftconv_dtype_name(s->dtype), fftconv_mode_name(s->mode), p->skip_d, layout);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make-seeds DIR (writes DIR/manifest and DIR/bundle)\n");
    return 2;
  }
  char md[4200], bd[4200];
  snprintf(md, sizeof md, "%s/manifest", argv[1]);
  snprintf(bd, sizeof bd, "%s/bundle", argv[1]);
  mkdir(argv[1], 0777);
  mkdir(md, 0777);
  mkdir(bd, 0777);
  static const seed seeds[] = {
      {"monarch_fp32", 1024, FFTCONV_FP32, FFTCONV_CIRCULAR},
      {"monarch_fp32", 4000, FFTCONV_FP16, FFTCONV_CAUSAL},
      {"monarch_tc", 4096, FFTCONV_FP16, FFTCONV_CIRCULAR},
      {"monarch_tc", 16384, FFTCONV_BF16, FFTCONV_CAUSAL},
      {"monarch_long", 65536, FFTCONV_FP16, FFTCONV_CIRCULAR},
      {"monarch_long", 1 << 20, FFTCONV_BF16, FFTCONV_CAUSAL},
      {"monarch_cluster", 131072, FFTCONV_FP16, FFTCONV_CIRCULAR},
  };
  fc_emit *m = NULL;
  fc_err e = {{0}};
  if (fc_emit_open(&m, &e) != FFTCONV_OK) {
    fprintf(stderr, "make-seeds: %s\n", e.msg);
    return 1;
  }
  fc_device_info d;
  fc_device_info_for_arch(90, &d);
  fc_str bundle = {0}, mods = {0}, ents = {0}, files = {0};
  int nmod = 0;
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    const seed *s = &seeds[i];
    fftconv_problem p;
    fftconv_problem_init(&p);
    p.batch = 3;
    p.heads = 5;
    p.seqlen = s->seqlen;
    p.dtype = s->dtype;
    p.mode = s->mode;
    p.pre_gate = p.post_gate = 1;
    p.skip_d = i % 2;
    char *params = NULL;
    fc_kernel_src k = {0};
    if (fc_emit_default(m, s->tmpl, &p, &d, &params, &e) != FFTCONV_OK ||
        fc_emit_kernel(m, s->tmpl, params, &d, &k, &e) != FFTCONV_OK) {
      fprintf(stderr, "make-seeds: %s: %s\n", s->tmpl, e.msg);
      return 1;
    }
    char *launch = fc_manifest_json(&k.manifest);
    char name[64];
    snprintf(name, sizeof name, "%s-%" PRId64 ".json", s->tmpl, s->seqlen);
    put(md, name, launch, strlen(launch));
    /* a stand-in fatbin of a few bytes, and the module and entry naming it */
    char fat[64], file[96], h[17];
    int fn = snprintf(fat, sizeof fat, "fatbin of %s %zu", s->tmpl, i);
    snprintf(file, sizeof file, "k%03d_%s.fatbin", nmod, s->tmpl);
    snprintf(h, sizeof h, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, fat, (size_t)fn));
    fc_str mod = {0}, alone = {0}, in_all = {0};
    fc_str_add(&mod, "{\"file\":\"%s\",\"bytes\":%d,\"fnv1a64\":\"%s\",\"cubins\":"
               "[\"sm_80\",\"sm_90\"],\"ptx\":\"compute_80\",\"template\":\"%s\",\"revision\":"
               "%d,\"hash\":\"%s\",\"params\":%s,\"launch\":%s}", file, fn, h, s->tmpl,
               k.info.revision, k.info.hash, params, launch);
    char key[256];
    fftconv_problem_key(&p, key, sizeof key);
    entry(&alone, key, 0, s, &p, k.manifest.filter_layout);      /* its bundle of one */
    entry(&in_all, key, nmod, s, &p, k.manifest.filter_layout);  /* the bundle of all */
    fc_str_add(&mods, "%s\n%s", nmod ? "," : "", mod.s);
    fc_str_add(&ents, "%s\n%s", nmod ? "," : "", in_all.s);
    fc_str_add(&files, "\n@@file %s\n%s", file, fat);
    nmod++;
    fc_str one = {0};
    fc_str_add(&one, "{\"format\":\"fftconv-bundle\",\"version\":1,\"generator\":\"fftconv\",\n"
               "\"modules\":[%s],\n\"entries\":[%s]}\n\n@@file %s\n%s", mod.s, alone.s, file, fat);
    snprintf(name, sizeof name, "one-%s-%" PRId64, s->tmpl, s->seqlen);
    put(bd, name, one.s, strlen(one.s));
    fc_str_free(&one);
    fc_str_free(&mod);
    fc_str_free(&alone);
    fc_str_free(&in_all);
    free(launch);
    free(params);
    fc_kernel_src_free(&k);
  }
  fc_str_add(&bundle, "{\"format\":\"fftconv-bundle\",\"version\":1,\"generator\":\"fftconv\",\n"
             "\"modules\":[%s],\n\"entries\":[%s]}\n%s", mods.s, ents.s, files.s);
  put(bd, "all", bundle.s, bundle.len);
  fc_str_free(&bundle);
  fc_str_free(&mods);
  fc_str_free(&ents);
  fc_str_free(&files);
  fc_emit_close(m);
  return 0;
}
