/* bundle_int: the pieces bundle.c (the reader) and bundle_file.c (files, the manifest's
   head, fc_bundle_probe) share. Private to the bundle module. */
#ifndef FC_BUNDLE_INT_H
#define FC_BUNDLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "util.h"

/* s for a message, in out: at most max bytes of it, control characters and backslashes
   escaped, "..." where it was cut. Returns out. */
const char *fc_bundle_esc(char *out, size_t len, const char *s, size_t max);
/* A string of the manifest's, for one message (the buffer lives to the end of the statement) */
#define ESC(s) fc_bundle_esc((char[200]){0}, 200, (s), 120)

/* Opens path to read only if it is a regular file (lstat, then O_NOFOLLOW|O_NONBLOCK and an
   fstat that must agree): the descriptor and *size, or -1 with why, *refused 1 when the file
   is there and of the wrong kind (a link, FIFO, device, socket, directory). */
int fc_bundle_open_regular(const char *path, int64_t *size, int *refused, char *why,
                           size_t wlen);
/* Exactly n bytes of fd, malloc'd and NUL-terminated; closes fd. 0, -1 with why (shorter, or
   grew while read), -2 out of memory. */
int fc_bundle_read_exactly(int fd, size_t n, char **out, char *why, size_t wlen);
/* The manifest at path (mname in messages), its size checked against FC_BUNDLE_MAX_MANIFEST
   before it is allocated. */
fftconv_status fc_bundle_read_manifest(const char *path, const char *mname, char **json,
                                       size_t *n, fc_err *e);
/* How the manifest is parsed (json.h): nesting far deeper than export writes, every value
   of the largest bundle the limits allow, and the members of one array counted past the
   largest count a bundle may hold (so that a longer array is refused by its count). */
#define FC_BUNDLE_JSON_DEPTH 64
#define FC_BUNDLE_JSON_VALUES (4u << 20)
/* The manifest's head: JSON (parsed into *doc, the caller's to free), an object,
   "format": "fftconv-bundle", an integer "version" of 1 or more into *version. hint is added
   to the malformed-JSON refusal. */
fftconv_status fc_bundle_manifest_head(const char *json, size_t jn, const char *mname,
                                       const char *hint, fc_json_doc **doc, int64_t *version,
                                       fc_err *e);
/* NULL when f (bytes long) is a plain file name in a bundle, else what is wrong with it. */
const char *fc_bundle_bad_file_name(const char *f, size_t bytes);

#endif
