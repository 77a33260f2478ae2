/* tune_output.c: what fftconv-tune prints: progress, the candidates' table, the winner's
 * passes and the JSON summary. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

void fmt_secs(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
  else if (s < 60) snprintf(buf, n, "%.0fs", s);
  else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

void on_progress(void *arg, int done, int total, const fc_result *r) {
  prog *g = arg;
  if (g->quiet) return;
  if (!r) { /* a stage's compilation starts: `total` candidates */
    if (!g->tty)
      fprintf(stderr, "[%d/%d] %s compiling %d candidates (%d done)\n", g->problem + 1,
              g->nproblems, g->key, total, done);
    return;
  }
  double frac = (g->problem + (total ? (double)done / total : 1.0)) / g->nproblems;
  double el = fc_now() - g->t0;
  char e1[32], e2[32];
  fmt_secs(el, e1, sizeof e1);
  fmt_secs(frac > 0 ? el / frac - el : NAN, e2, sizeof e2);
  if (g->tty)
    fprintf(stderr, "\r\033[K[%d/%d] %s  candidate %d/%d  %3.0f%%  elapsed %s  ETA %s",
            g->problem + 1, g->nproblems, g->key, done, total, 100 * frac, e1, e2);
  else if (done == total || r->status != FC_RESULT_OK || done * 4 / total != (done - 1) * 4 / total)
    fprintf(stderr, "[%d/%d] %s candidate %d/%d %s%s%.200s (elapsed %s)\n", g->problem + 1,
            g->nproblems, g->key, done, total, fc_result_status_name(r->status),
            r->detail[0] ? ": " : "", r->detail, e1);
}

/* "family factors rest": the family's short name, the factorization as 16x32, and the other
   parameters that vary between candidates (dtype, gates and sizes left out). */
static void summarize(const fc_result *r, char *out, size_t len) {
  const char *json = r->params;
  char fac[64] = "?", rest[160] = "";
  const char *f = strstr(json, "\"factors\":[");
  if (f) {
    f += 11;
    size_t j = 0;
    for (; *f && *f != ']' && j + 2 < sizeof fac; f++) fac[j++] = *f == ',' ? 'x' : *f;
    fac[j] = 0;
  }
  const char *tv = strstr(json, "\"taps\":");
  if (tv && !f) snprintf(fac, sizeof fac, "%d taps", atoi(tv + 7)); /* direct: no FFT */
  long long n = 0, n2 = 0;
  const char *nv = strstr(json, "\"fft_size\":"), *n2v = strstr(json, "\"n2\":");
  if (!f && nv && n2v && sscanf(nv + 11, "%lld", &n) == 1 && sscanf(n2v + 5, "%lld", &n2) == 1 &&
      n2 > 0)
    snprintf(fac, sizeof fac, "%lldx%lld", n / n2, n2); /* the outer split N1 x N2 */
  static const char *keys[] = {"dft",  "seqs",         "threads",      "warps", "pairs", "real",
                               "load", "threads_cols", "threads_rows", "tile",  "ws",    "cluster",
                               "acc",  "p_smem",       "split",        "per",   "mma",
                               "lo",   "segment",      "band",         "seq",   "twiddle",
                               "group", "order", NULL};
  size_t k = 0;
  for (int i = 0; keys[i]; i++) {
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", keys[i]);
    const char *v = strstr(json, pat);
    if (!v) continue;
    v += strlen(pat);
    char val[24] = "?";
    if (*v == '"') sscanf(v + 1, "%23[^\"]", val);
    else if (*v == 't' || *v == 'f') sscanf(v, "%23[a-z]", val); /* true, false */
    else sscanf(v, "%23[0-9]", val);
    if (!strcmp(keys[i], "group") && !strcmp(val, "row")) continue; /* the base block shape */
    int w = snprintf(rest + k, sizeof rest - k, "%s%s=%s", k ? " " : "", keys[i], val);
    if (w > 0 && (size_t)w < sizeof rest - k) k += (size_t)w;
  }
  const char *name = r->src.info.name;
  if (!strncmp(name, "monarch_", 8)) name += 8;
  snprintf(out, len, "%-5s %-10s %-26s", name, fac, rest);
}

void print_table(const fc_search *sr, double floor_ms) {
  printf("\n%4s %-5s %-10s %-26s %5s %6s  %-14s %9s %9s %9s %5s %8s %7s\n", "#", "fam",
         "factors", "parameters", "regs", "spill", "status", "median_ms", "p10_ms", "p90_ms",
         "runs", "rel_err", "floor%");
  for (int i = 0; i < sr->n; i++) {
    const fc_result *c = &sr->r[i];
    char sum[224];
    summarize(c, sum, sizeof sum);
    const fc_launch *fw = fc_manifest_main(&c->src.manifest);
    const fc_entry_info *fe = c->bin.cubin && fw ? fc_binary_entry(&c->bin, fw->entry) : NULL;
    printf("%4d %s %5d %6d  %-14s", i, sum, fe ? fe->registers : 0,
           fe ? fe->spill_stores + fe->spill_loads : 0,
           fc_result_status_name(c->status));
    if (c->status == FC_RESULT_OK) {
      char pct[16] = "-";
      if (isfinite(floor_ms)) snprintf(pct, sizeof pct, "%.1f%%", 100.0 * floor_ms / c->t.median_ms);
      printf(" %9.4f %9.4f %9.4f %5d %8.1e %7s", c->t.median_ms, c->t.p10_ms, c->t.p90_ms,
             c->t.runs, c->err, pct);
    }
    else if (c->detail[0])
      printf(" %.200s", c->detail);
    printf("\n");
  }
}

/* For a single problem's forward: each launch of the winner alone, timed (5 runs, L2
   scrubbed) beside the bytes it moves at the least (fc_manifest_launch_bytes), so that a
   multi-pass kernel shows where its time goes. Only when the winner was compiled in this run
   (its binary at hand); a line says why not otherwise, and for the backward. */
void print_passes(fftconv_ctx *ctx, const fftconv_problem *p, int op, const fc_search *sr,
                  const char *params) {
  const fc_result *w = NULL;
  if (op != FC_OP_FORWARD) { /* fc_time_launches times the forward's launches */
    printf("passes   not timed: a backward's launches are timed together only (above)\n");
    return;
  }
  for (int i = 0; i < sr->n && !w; i++)
    if (sr->r[i].bin.cubin && sr->r[i].params && !strcmp(sr->r[i].params, params)) w = &sr->r[i];
  if (!w) {
    printf("passes   not timed: the winner came from the cache (tune with an empty cache)\n");
    return;
  }
  fftconv_plan *pl = NULL;
  fc_testdata t;
  fc_timing tm[FC_MAX_LAUNCHES];
  fc_err e = {{0}};
  fftconv_status st = fc_plan_from_binary(ctx, p, &w->src, &w->bin, "profile", &pl);
  if (st != FFTCONV_OK) {
    printf("passes   not timed: %s\n", fftconv_ctx_error(ctx));
    return;
  }
  if ((st = fc_testdata_make(p, 7, FC_TD_DEVICE, &t, &e)) == FFTCONV_OK) {
    st = fc_time_launches(pl, &t, 2, 5, tm, &e);
    fc_testdata_free(&t);
  }
  if (st != FFTCONV_OK) {
    printf("passes   not timed: %s\n", e.msg);
  } else {
    double ms = 0, gb = 0;
    for (int i = 0; i < pl->manifest.nlaunch; i++) {
      if (pl->manifest.launch[i].phase != FC_PHASE_FORWARD) continue;
      double b = (double)fc_manifest_launch_bytes(&pl->manifest, i, &pl->shape) / 1e9;
      printf("pass     %-22s %9.4f ms  %8.4f GB moved  %6.0f GB/s\n", pl->manifest.launch[i].entry,
             tm[i].median_ms, b, b / (tm[i].median_ms * 1e-3));
      ms += tm[i].median_ms, gb += b;
    }
    printf("passes   %-22s %9.4f ms  %8.4f GB moved  %6.0f GB/s (each alone, 5 runs)\n", "all",
           ms, gb, gb / (ms * 1e-3));
  }
  fftconv_plan_destroy(pl);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

/* --json: the run's summary on stdout. */
void tune_print_json(const tune_run *r) {
  printf("{\"device\":");
  json_str(stdout, r->ctx ? fftconv_ctx_device(r->ctx) : r->dev.name);
  printf(",\"cache\":");
  json_str(stdout, r->cpath);
  printf(",\"rigor\":");
  json_str(stdout, fc_rigor_name(r->rigor));
  printf(",\"nvrtc\":");
  json_str(stdout, r->nvrtc);
  if (isfinite(r->gbps)) printf(",\"copy_gbps\":%.1f", r->gbps);
  printf(",\"interrupted\":%s,\"problems\":[", tune_stop_flag ? "true" : "false");
  for (int i = 0, k = 0; i < r->pl.n * r->nops; i++) {
    const summary *S = &r->sum[i];
    if (!S->key[0]) continue;
    printf("%s{\"key\":", k++ ? "," : "");
    json_str(stdout, S->key);
    printf(",\"op\":");
    json_str(stdout, fc_op_name(S->op));
    printf(",\"candidates\":%d,\"measured\":%d,\"cached\":%d,\"failed\":%d,\"not_run\":%d,"
           "\"screened\":%d,\"reused\":%d,\"cut\":%d", S->n, S->measured, S->cached, S->failed,
           S->not_run, S->screened, S->reused, S->cut);
    if (S->params) {
      printf(",\"winner\":{\"params\":%s,\"median_ms\":%.6f", S->params, S->ms);
      char *mj = fc_manifest_json(&S->manifest);
      if (mj) printf(",\"manifest\":%s", mj);
      free(mj);
      if (isfinite(S->floor_ms))
        printf(",\"floor_ms\":%.6f,\"floor_fraction\":%.4f", S->floor_ms, S->floor_ms / S->ms);
      printf("}");
    }
    if (S->why) {
      printf(",\"no_candidate\":");
      json_str(stdout, S->why);
    }
    printf("}");
  }
  printf("]}\n");
}
