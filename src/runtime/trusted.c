/* trusted: the embedded templates' current hashes, computed once (see trusted.h). */
#include "trusted.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "templates.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char names[FC_TRUSTED_MAX][64];
static char hashes[FC_TRUSTED_MAX][17];
static const char *hashp[FC_TRUSTED_MAX];
static int count;

/* templates/<name>.lua, lib/ aside: the same families fc_emit lists */
static void compute(void) {
  for (const fc_embedded_file *f = fc_embedded_templates; f->path && count < FC_TRUSTED_MAX;
       f++) {
    size_t n = strlen(f->path);
    if (strchr(f->path, '/') || n < 5 || n - 4 >= sizeof names[0] ||
        strcmp(f->path + n - 4, ".lua"))
      continue;
    snprintf(names[count], sizeof names[count], "%.*s", (int)(n - 4), f->path);
    if (fc_template_hash(names[count], hashes[count], NULL) != FFTCONV_OK) continue;
    hashp[count] = hashes[count];
    count++;
  }
}

int fc_trusted_hashes(const char *const **out) {
  pthread_once(&once, compute);
  if (out) *out = hashp;
  return count;
}

const char *fc_trusted_template(int i) {
  pthread_once(&once, compute);
  return i >= 0 && i < count ? names[i] : "";
}
