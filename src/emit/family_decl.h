/* family_decl: a template's declaration of what it runs, the `runs` table of the table its
 * file returns (README, "Adding a kernel family"):
 *   runs = {
 *     ops = { "forward" },                  -- the ops it has kernels for
 *     dtypes = { "fp16", "bf16" },          -- I/O dtypes: fp32, fp16, bf16
 *     modes = { "causal", "circular" },
 *     fft_size = { min = 256, max = 32768 }, -- FFT sizes N, powers of two
 *     max_taps = 16384,                     -- optional: only filters of at most this many
 *                                           --   taps (a short or partial filter's family)
 *     min_sm = 80,                          -- oldest compute capability, x10
 *     fallback = 1,                         -- heuristic fallback order (1 first), or false
 *     retired = "why",                      -- optional: the tuner searches the family only
 *                                           --   when --template names it, and says why
 *   }
 * Its default choice is its default(). Read here by both the template engine (fc_emit_declaration)
 * and the build's generator of the runtime's table (tools/gen_families.c), so the two cannot
 * disagree on what a declaration means. Only the Lua API: no fc_emit state. */
#ifndef FC_FAMILY_DECL_H
#define FC_FAMILY_DECL_H

#include <stddef.h>

#include <lua.h>

#include "families.h"

/* Reads and checks the declaration of template `name` from its table at stack index idx
   (name and doc too). 0, or -1 with msg set to "template 'x' (templates/x.lua): field
   'runs.y' ..." naming the field and what it allows. Leaves the stack as it was; raises no
   Lua error (plain tables only). */
int fc_family_decl_read(lua_State *L, int idx, const char *name, fc_family_decl *d, char *msg,
                        size_t len);

#endif
