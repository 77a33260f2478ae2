/* export_write: a bundle's files (see export.h and bundle.h): manifest.json, and the C
 * source of --c-source. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "export_int.h"

#ifndef FFTCONV_VERSION
#define FFTCONV_VERSION "unknown"
#endif

/* ---- writing ---- */

static void json_str(fc_str *b, const char *s) {
  fc_str_add(b, "\"");
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\') fc_str_add(b, "\\%c", *p);
    else if (*p < 0x20) fc_str_add(b, "\\u%04x", *p);
    else fc_str_addn(b, (const char *)p, 1);
  }
  fc_str_add(b, "\"");
}

void fc_export_manifest_text(const xstate *x, fc_str *b) {
  fc_str_add(b, "{\"format\":\"" FC_BUNDLE_FORMAT "\",\"version\":%d,\"generator\":\"fftconv "
             FFTCONV_VERSION "\",\n\"modules\":[", FC_BUNDLE_VERSION);
  int written = 0;
  for (int i = 0; i < x->nm; i++) {
    const xmod *m = &x->m[i];
    if (!m->fatbin) continue;
    const xwin *w = &x->w[m->first];
    char h[17];
    snprintf(h, sizeof h, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, m->fatbin, m->fatbin_size));
    fc_str_add(b, "%s\n{\"file\":", written++ ? "," : "");
    json_str(b, m->file);
    fc_str_add(b, ",\"bytes\":%zu,\"fnv1a64\":\"%s\",\"cubins\":[", m->fatbin_size, h);
    for (int k = 0; k < m->ncubins; k++) fc_str_add(b, "%s\"%s\"", k ? "," : "", m->cubins[k]);
    fc_str_add(b, "],\"ptx\":");
    if (m->ptx_arch[0]) json_str(b, m->ptx_arch);
    else fc_str_add(b, "null");
    fc_str_add(b, ",\"template\":");
    json_str(b, w->tmpl);
    fc_str_add(b, ",\"revision\":%d,\"hash\":", w->revision);
    json_str(b, w->hash);
    fc_str_add(b, ",\"params\":%s,\"launch\":%s}", w->params, w->mjson);
  }
  fc_str_add(b, "],\n\"entries\":[");
  /* module indices as written: modules without a fatbin are skipped */
  int idx = 0, n = 0;
  for (int i = 0; i < x->nm; i++) {
    const xmod *m = &x->m[i];
    if (!m->fatbin) continue;
    int end = i + 1 < x->nm ? x->m[i + 1].first : x->nw;
    for (int k = m->first; k < end; k++) {
      const xwin *w = &x->w[k];
      const fftconv_problem *p = &w->p;
      fc_str_add(b, "%s\n{\"problem\":", n++ ? "," : "");
      json_str(b, w->key);
      fc_str_add(b, ",\"module\":%d,\"shape\":{\"batch\":%" PRId64 ",\"heads\":%" PRId64
                 ",\"seqlen\":%" PRId64 ",\"filter_len\":%" PRId64 ",\"freq_keep\":%" PRId64
                 ",\"dtype\":\"%s\",\"mode\":\"%s\",\"pre_gate\":%d,\"post_gate\":%d,"
                 "\"skip_d\":%d},\"filter_layout\":", idx, p->batch, p->heads, p->seqlen,
                 p->filter_len, p->freq_keep, fftconv_dtype_name(p->dtype),
                 fftconv_mode_name(p->mode), p->pre_gate, p->post_gate, p->skip_d);
      json_str(b, m->manifest.filter_layout);
      int64_t per_row = 0, fixed = 0;
      for (int r = 0; r < m->manifest.nws; r++) {
        per_row += m->manifest.ws[r].per_row;
        fixed += m->manifest.ws[r].fixed;
      }
      fc_str_add(b, ",\"workspace_per_row\":%" PRId64 ",\"workspace_fixed\":%" PRId64
                 ",\"device\":", per_row, fixed);
      json_str(b, w->device);
      fc_str_add(b, ",\"sms\":%d,\"driver\":%d,\"sm\":%d,\"median_ms\":%.6f}", w->sms, w->driver,
                 w->device_sm, isfinite(w->median_ms) ? w->median_ms : 0.0);
    }
    idx++;
  }
  fc_str_add(b, "]}\n");
}

int fc_export_write_all(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(data, 1, n, f) == n;
  ok = fflush(f) == 0 && ok;
  return fclose(f) == 0 && ok;
}

static void c_bytes(FILE *f, const void *data, size_t n) {
  const unsigned char *d = data;
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%u,", i % 24 ? "" : "\n ", d[i]);
}

fftconv_status fc_export_write_c(const xstate *x, const char *manifest, size_t mlen,
                                 const char *path, const char *name, fc_err *e) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.partial-%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s: cannot write %s: %s", path, tmp,
                         strerror(errno));
  fprintf(f, "/* fftconv bundle, written by fftconv-cache export: do not edit.\n"
             " * Compile it into the application and plan from it:\n"
             " *   extern const fftconv_bundle_image %s;\n"
             " *   options.bundle_image = &%s;\n"
             " */\n#include \"fftconv.h\"\n", name, name);
  int nf = 0;
  for (int i = 0; i < x->nm; i++) {
    if (!x->m[i].fatbin) continue;
    fprintf(f, "\n/* %s */\nstatic _Alignas(16) const unsigned char %s_f%d[] = {", x->m[i].file,
            name, nf++);
    c_bytes(f, x->m[i].fatbin, x->m[i].fatbin_size);
    fprintf(f, "\n};\n");
  }
  fprintf(f, "\nstatic const char %s_manifest[] = {", name);
  c_bytes(f, manifest, mlen);
  fprintf(f, "\n 0};\n\nstatic const fftconv_bundle_file %s_files[] = {\n", name);
  nf = 0;
  for (int i = 0; i < x->nm; i++)
    if (x->m[i].fatbin) {
      fprintf(f, "  {\"%s\", %s_f%d, sizeof %s_f%d},\n", x->m[i].file, name, nf, name, nf);
      nf++;
    }
  fprintf(f, "};\n\nextern const fftconv_bundle_image %s;\n"
             "const fftconv_bundle_image %s = {FFTCONV_BUNDLE_IMAGE_VERSION, %s_manifest, %zu, "
             "%d, %s_files};\n", name, name, name, mlen, nf, name);
  int ok = !ferror(f);
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s: cannot write it: %s", path, strerror(err));
  }
  return FFTCONV_OK;
}

/* Whether path is a bundle export wrote (a directory with a manifest.json in it), or an empty
   directory: what --force may replace. */
int fc_export_replaceable(const char *path) {
  char p[4400];
  struct stat sb;
  snprintf(p, sizeof p, "%s/" FC_BUNDLE_MANIFEST, path);
  if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) return 1;
  return rmdir(path) == 0 && mkdir(path, 0777) == 0;
}

/* Removes a directory of plain files (a bundle export wrote, or a partial one). */
void fc_export_remove_dir(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      char p[4400];
      snprintf(p, sizeof p, "%s/%s", path, de->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(path);
}

