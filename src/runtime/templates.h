/* templates: the kernel templates embedded in the library (templates/ at build time) and
 * their hashes. Runtime layer: the text is only hashed here; src/emit.c runs it. */
#ifndef FC_TEMPLATES_H
#define FC_TEMPLATES_H

#include "fftconv.h"
#include "util.h"

typedef struct fc_embedded_file {
  const char *path; /* relative to templates/, e.g. "monarch_fp32.lua", "lib/fft.lua" */
  const char *text;
  int len;
} fc_embedded_file;
extern const fc_embedded_file fc_embedded_templates[]; /* ends with {NULL, NULL, 0} */

/* The hash fc_emit_info reports for an embedded template (hex FNV-1a 64 of its text and
   every lib/ file), computed from the embedded text alone: no Lua state. */
fftconv_status fc_template_hash(const char *tmpl, char out[17], fc_err *e);

#endif
