/* bundle: precompiled kernels shipped without a compiler or a cache file, as fftconv-cache
 * export writes them. A store backend (store.h) beside the SQLite cache. Store layer, part
 * of libfftconv_rt: it reads the manifest with the runtime's JSON reader (json.h) and hands
 * the driver whole fatbins; no SQLite, Lua or NVRTC.
 *
 * A bundle is a directory:
 *   manifest.json     the format below
 *   <module>.fatbin   one a kernel: a cubin for each of its architectures and (usually) the
 *                     PTX of the lowest, for GPUs newer than every cubin
 * or the same files compiled into a program (fftconv_bundle_image, --c-source).
 *
 * manifest.json, format version 1 (every key written, in this order):
 *   {"format":"fftconv-bundle","version":1,"generator":"fftconv 0.1.0",
 *    "modules":[{"file":"k000_monarch_tc.fatbin","bytes":N,"fnv1a64":"16 hex",
 *                "cubins":["sm_80","sm_90"],"ptx":"compute_80" (or null),
 *                "template":"monarch_tc","revision":2,"hash":"16 hex","params":{...},
 *                "launch":{the launch manifest, kernel.h}}, ...],
 *    "entries":[{"problem":KEY,"module":INDEX,"op":"forward" (optional; forward when absent),
 *                "shape":{"batch":B,"heads":H,"seqlen":L,"filter_len":K,"freq_keep":F,
 *                         "dtype":"fp16","mode":"circular","pre_gate":1,"post_gate":1,
 *                         "skip_d":0},
 *                "filter_layout":NAME,"workspace_per_row":BYTES,"workspace_fixed":BYTES,
 *                ["workspace_per_head":BYTES,] (only when not 0)
 *                "device":MODEL,"sms":132,"driver":13000,"sm":90,"median_ms":T}, ...]}
 * Entries are the winners exported: a problem key may appear once per device it was tuned on.
 * An entry's op is resolved with fc_op_find (an unknown one is refused by name) and its key
 * is its shape's for that op; a lookup takes only the entries of the shape's op.
 * A module's bytes and FNV-1a 64 hash are checked when the bundle is opened, so a truncated
 * or altered fatbin is refused before the driver sees it. */
#ifndef FC_BUNDLE_H
#define FC_BUNDLE_H

#include "fftconv.h"
#include "store.h"
#include "util.h"

#define FC_BUNDLE_FORMAT "fftconv-bundle"
#define FC_BUNDLE_VERSION 1
#define FC_BUNDLE_MANIFEST "manifest.json"

/* Limits of the reader, checked before anything is allocated from a manifest's counts or sizes:
   a bundle past them is refused by name, never read. They are well past what export writes
   (one module a winning kernel, one entry a problem and device; a fatbin of a few MB). */
#define FC_BUNDLE_MAX_MANIFEST (64ll << 20) /* manifest.json, bytes */
#define FC_BUNDLE_MAX_FATBIN (256ll << 20)  /* one module's fatbin, bytes */
#define FC_BUNDLE_MAX_MODULES 4096
#define FC_BUNDLE_MAX_ENTRIES 65536
#define FC_BUNDLE_MAX_CUBINS 8              /* a module's "cubins" */
#define FC_BUNDLE_MAX_TEMPLATE 63           /* a module's "template", bytes */
#define FC_BUNDLE_MAX_KEY 255               /* an entry's "problem", bytes */
#define FC_BUNDLE_MAX_DEVICE 255            /* an entry's "device", bytes */
#define FC_BUNDLE_MAX_TOTAL (2ll << 30)     /* all of a bundle's fatbins together, bytes */

typedef struct fc_bundle fc_bundle;

/* Whether dir is an fftconv bundle's directory, as export needs to know before it replaces one:
   FFTCONV_OK only when dir is a directory (not a symbolic link to one) whose manifest.json is a
   regular file (not a link), at most FC_BUNDLE_MAX_MANIFEST bytes, that reads as a JSON object
   with "format": "fftconv-bundle" and an integer "version" of 1 or more (any version, newer
   ones included). Otherwise FFTCONV_ERR_IO saying why (FFTCONV_ERR_NOMEM when memory runs out).
   Reads nothing but the manifest; never blocks (a FIFO is refused, not opened for long). */
fftconv_status fc_bundle_probe(const char *dir, fc_err *e);
/* fc_bundle_probe, then the file names its "modules" name ("file"), malloc'd (free each and
   *names), so that a writer replacing the bundle removes only the bundle's own files:
   manifest.json and these. Every name is checked: not empty, at most 127 bytes, no '/', not
   starting with '.', no control character, not manifest.json; more than
   FC_BUNDLE_MAX_MODULES modules, or one name that fails, and the whole call fails (*names
   NULL, *n 0). The files need not exist. */
fftconv_status fc_bundle_probe_files(const char *dir, char ***names, int *n, fc_err *e);

/* Opens and checks a bundle: path (a directory, or its manifest.json) or img (one compiled
   in), exactly one of them. Needs no GPU: every module is read and checked against its size
   and hash. Every failure is FFTCONV_ERR_IO with a message naming the file and what is wrong
   (FFTCONV_ERR_NOMEM when memory runs out).
   Its input is taken as hostile. The manifest and the fatbins are read only as regular files
   in the bundle's directory: a symbolic link (even to a file in the bundle), a FIFO, a device,
   a socket or a directory is refused by name without being read (a FIFO never blocks). The
   manifest's size is checked against FC_BUNDLE_MAX_MANIFEST, and each fatbin's size (fstat)
   against the manifest's "bytes", before a byte is read; then exactly that many bytes are
   read, and a file that shrinks or grows meanwhile is refused. The counts of modules, entries
   and cubins are checked against the limits above before anything is sized from them. Each
   field is checked for presence, type, length and range, and a refusal says which field of
   which element and what was expected ("entries[3].device is 300 characters, at most 255").
   A string of the manifest's in a message is cut at 120 bytes with its control characters
   escaped; control characters in names and keys are refused. A compiled-in image's own
   fields (version, NULL pointers, manifest_size against its text, nfiles, names, sizes) are
   checked before its memory is read. */
fftconv_status fc_bundle_open(const char *path, const fftconv_bundle_image *img,
                              fc_bundle **out, fc_err *e);
/* Marks which modules compute capability sm (90) can run: a cubin for it, or PTX at or below
   it. FFTCONV_ERR_IO when none can ("holds nothing this GPU can run: ..."). Lookups skip the
   modules it cannot run; without this call every module is taken to run. */
fftconv_status fc_bundle_set_device(fc_bundle *b, int sm, fc_err *e);
void fc_bundle_close(fc_bundle *b); /* accepts NULL */
/* e.g. "/opt/app/kernels (3 kernels, 5 problems; cubins sm_80, sm_90; PTX compute_80)" */
const char *fc_bundle_describe(const fc_bundle *b);
int fc_bundle_modules(const fc_bundle *b);
int fc_bundle_entries(const fc_bundle *b);
/* Module i's fatbin (owned by the bundle) and what it holds. */
const void *fc_bundle_module_data(const fc_bundle *b, int i, size_t *size);
/* The bundle as a store; the store owns b from then on. NULL when out of memory (b closed).
   fc_store_set_device is fc_bundle_set_device. */
fc_store *fc_bundle_store(fc_bundle *b);
/* fc_bundle_open, then fc_bundle_store: the hook fftconv_ctx_create passes the runtime
   (fc_ctx_hooks.bundle_open). */
fftconv_status fc_bundle_open_store(const char *path, const fftconv_bundle_image *img,
                                    fc_store **out, fc_err *e);

/* Whether a cubin for arch ("sm_80", "sm_90a") or PTX for it ("compute_80") runs on compute
   capability sm: a cubin on the same major version at the same or a higher minor (sm_90a
   only on 90), PTX on any at or above it. */
int fc_arch_runs_on(const char *arch, int sm);

#endif
