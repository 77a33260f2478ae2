/* bundle-image-main: the program test_export links with a --c-source bundle, through the
 * public API only. It opens a context with the compiled-in bundle and prints
 *   image <nfiles> files, manifest <bytes> bytes
 *   ctx <status name>: <detail>
 * A bundle that does not read back is FFTCONV_ERR_IO; on a machine without a GPU a good one
 * gets as far as the driver (FFTCONV_ERR_NO_DRIVER or NO_DEVICE). Exit status 0 unless the
 * context failed for another reason than a missing driver or device. */
#include <stdio.h>

#include "fftconv.h"

extern const fftconv_bundle_image fftconv_bundle;

int main(void) {
  printf("image %d files, manifest %zu bytes\n", fftconv_bundle.nfiles,
         fftconv_bundle.manifest_size);
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.no_cache = 1;
  o.bundle_image = &fftconv_bundle;
  fftconv_ctx *c = NULL;
  fftconv_status st = fftconv_ctx_create(&o, &c);
  printf("ctx %s: %s\n", fftconv_status_string(st),
         st == FFTCONV_OK ? fftconv_ctx_bundle(c) : fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(c);
  return st == FFTCONV_OK || st == FFTCONV_ERR_NO_DRIVER || st == FFTCONV_ERR_NO_DEVICE ? 0 : 1;
}
