/* store: the dispatch of the store interface (see store.h). */
#include "store.h"

#include <stdlib.h>

struct fc_store {
  const fc_store_ops *ops;
  void *impl;
};

fc_store *fc_store_new(const fc_store_ops *ops, void *impl) {
  fc_store *s = malloc(sizeof *s);
  if (s) *s = (fc_store){ops, impl};
  return s;
}

fftconv_status fc_store_lookup(fc_store *s, const fc_cache_config *cfg, const fc_shape *sh,
                               const char *const *hashes, int nhashes, fc_cache_hit *hit,
                               int *found, fc_err *e) {
  if (!s) return fc_fail(e, FFTCONV_ERR_INVALID, "store: NULL");
  return s->ops->lookup(s->impl, cfg, sh, hashes, nhashes, hit, found, e);
}

const char *fc_store_describe(const fc_store *s) { return s ? s->ops->describe(s->impl) : ""; }

void fc_store_close(fc_store *s) {
  if (!s) return;
  s->ops->close(s->impl);
  free(s);
}
