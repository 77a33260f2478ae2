/* tune_sets.c: the problems fftconv-tune tunes: the named sets (default, long), a problem-set
 * file, and the list that holds them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "tune.h"

int plist_add(plist *l, const fftconv_problem *p) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    fftconv_problem *q = realloc(l->p, (size_t)cap * sizeof *q);
    if (!q) return 0;
    l->p = q;
    l->cap = cap;
  }
  l->p[l->n++] = *p;
  return 1;
}

/* FlashFFTConv's benchmark shapes: gated, fp16 and bf16, N 256 ... 32K, both modes. */
static int default_set(plist *l) {
  for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int64_t n = 256; n <= 32768; n *= 2) {
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 64;
        p.heads = 768;
        p.dtype = (fftconv_dtype)dt;
        p.mode = mode ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
        p.seqlen = mode ? n : n / 2;
        p.pre_gate = p.post_gate = 1;
        if (!plist_add(l, &p)) return 0;
      }
  return 1;
}

/* The long shapes of the benchmark: gated, fp16 and bf16, N 64K ... 4M, both modes, with
   FlashFFTConv's reduced batches (B = 8, H = 768 at 64K halving to 16 at 4M). */
static int long_set(plist *l) {
  for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int i = 0; i < 7; i++) {
        static const int64_t heads[7] = {768, 384, 192, 96, 48, 32, 16};
        int64_t n = INT64_C(65536) << i, h = heads[i];
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 8;
        p.heads = h;
        p.dtype = (fftconv_dtype)dt;
        p.mode = mode ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
        p.seqlen = mode ? n : n / 2;
        p.pre_gate = p.post_gate = 1;
        if (!plist_add(l, &p)) return 0;
      }
  return 1;
}

/* The named problem sets: --set and --list-set. */
static const struct {
  const char *name, *doc;
  int (*fill)(plist *);
} sets[] = {
    {"default", "FlashFFTConv's benchmark shapes up to 32K (B=64 H=768)", default_set},
    {"long", "the long shapes, 64K to 4M, with FlashFFTConv's reduced batches", long_set},
};

int tune_find_set(const char *name) {
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    if (!strcmp(sets[i].name, name)) return (int)i;
  return -1;
}

static void print_problem_flags(FILE *f, const fftconv_problem *p) {
  fc_str b = {0};
  fc_fields_flags(p, &b);
  fprintf(f, "%s\n", b.s ? b.s + 1 : ""); /* without the first space */
  fc_str_free(&b);
}

int tune_read_problems(const char *path, plist *l) {
  fftconv_problem *ps = NULL;
  int n = 0;
  fc_err e;
  fftconv_status st = fc_problem_file_read(path, &ps, &n, &e);
  if (st == FFTCONV_ERR_INVALID) tune_die_usage("%s", e.msg);
  else if (st != FFTCONV_OK) fprintf(stderr, "fftconv-tune: %s\n", e.msg);
  int ok = st == FFTCONV_OK;
  for (int i = 0; ok && i < n; i++)
    if (!plist_add(l, &ps[i])) {
      fprintf(stderr, "fftconv-tune: out of memory reading %s\n", path);
      ok = 0;
    }
  free(ps);
  return ok;
}

const char *tune_set_name(int set) { return sets[set].name; }

int tune_fill_set(int set, plist *l) { return sets[set].fill(l); }

int tune_list_set(int set) {
  plist l = {0};
  int ok = sets[set].fill(&l);
  if (ok) {
    printf("# fftconv-tune's problem set '%s': %s\n", sets[set].name, sets[set].doc);
    for (int i = 0; i < l.n; i++) print_problem_flags(stdout, &l.p[i]);
  }
  free(l.p);
  return ok ? 0 : tune_oom();
}
