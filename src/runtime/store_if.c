/* store_if: the dispatch of the store interface (see store_if.h). */
#include "store_if.h"

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

fftconv_status fc_store_lookup(fc_store *s, const fc_store_config *cfg, const fc_shape *sh,
                               const char *const *hashes, int nhashes, fc_store_hit *hit,
                               int *found, fc_err *e) {
  if (!s) return fc_fail(e, FFTCONV_ERR_INVALID, "store: NULL");
  return s->ops->lookup(s->impl, cfg, sh, hashes, nhashes, hit, found, e);
}

const char *fc_store_describe(const fc_store *s) { return s ? s->ops->describe(s->impl) : ""; }

fftconv_status fc_store_set_device(fc_store *s, int sm, fc_err *e) {
  if (!s) return fc_fail(e, FFTCONV_ERR_INVALID, "store: NULL");
  return s->ops->set_device ? s->ops->set_device(s->impl, sm, e) : FFTCONV_OK;
}

void fc_store_close(fc_store *s) {
  if (!s) return;
  s->ops->close(s->impl);
  free(s);
}

void fc_store_hit_free(fc_store_hit *h) {
  if (!h) return;
  free(h->params);
  if (!h->cubin_borrowed) free(h->cubin);
  h->params = NULL;
  h->cubin = NULL;
  h->cubin_size = 0;
}
