/* templates: the embedded template files' hashes, computed from the embedded text alone: the
 * runtime checks cache entries with them and needs no Lua state. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "templates.h"

fftconv_status fc_template_hash(const char *tmpl, char out[17], fc_err *e) {
  char file[96];
  snprintf(file, sizeof file, "%s.lua", tmpl ? tmpl : "");
  const fc_embedded_file *t = NULL;
  for (const fc_embedded_file *f = fc_embedded_templates; f->path; f++)
    if (!strcmp(f->path, file)) t = f;
  if (!t) return fc_fail(e, FFTCONV_ERR_INVALID, "unknown template '%s'", tmpl ? tmpl : "(null)");
  /* The same bytes in the same order as emit_hash: the template, then lib/ sorted by path
     (the embedded table is generated sorted). */
  uint64_t h = fc_hash64(FC_HASH64_INIT, t->text, (size_t)t->len);
  for (const fc_embedded_file *f = fc_embedded_templates; f->path; f++)
    if (!strncmp(f->path, "lib/", 4)) h = fc_hash64(h, f->text, (size_t)f->len);
  snprintf(out, 17, "%016" PRIx64, h);
  return FFTCONV_OK;
}
