/* trusted: what the cache may be trusted for: the current hash of every kernel template
 * embedded in this build. A cache row whose template hash is not among them was made by a
 * template that has changed since, and is never used (cache.h, "Trusted"). Computed once per
 * process from the embedded text (fc_template_hash: no Lua state), so the runtime, the tuner
 * and fftconv-cache all trust exactly the same set. Thread-safe. */
#ifndef FC_TRUSTED_H
#define FC_TRUSTED_H

#define FC_TRUSTED_MAX 32 /* templates a build may embed */

/* The hashes (16 hex each), in the embedded templates' order; *hashes lives as long as the
   process. Returns how many. */
int fc_trusted_hashes(const char *const **hashes);
/* The template name of hashes[i] ("" when i is out of range). */
const char *fc_trusted_template(int i);

#endif
