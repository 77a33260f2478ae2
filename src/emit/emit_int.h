/* emit_int: the internals emit.c and emit_call.c share (see emit.h for the contract). */
#ifndef FC_EMIT_INT_H
#define FC_EMIT_INT_H

#include "emit.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "family_decl.h"

#define EMIT_DEFAULT_BUDGET INT64_C(200000000)
#define EMIT_HOOK_STEP 10000
/* Templates build strings of a few hundred KiB; a gigabyte means a runaway template. */
#define EMIT_MEM_LIMIT ((size_t)1 << 30)
#define EMIT_MAX_CANDIDATES 1000000

typedef struct emit_tmpl {
  char name[64];
  const char *text;
  size_t len;
  char *owned;  /* text, when it came from fc_emit_add_template */
  int loaded;   /* the registry holds the table this text returned */
  int revision; /* valid when loaded */
  fc_family_decl decl; /* what it declares it runs (family_decl.h), valid when loaded */
} emit_tmpl;

typedef struct emit_lib {
  const char *path; /* "lib/json.lua" */
  const char *text;
  size_t len;
} emit_lib;

struct fc_emit {
  lua_State *L;
  emit_tmpl *tmpl; /* sorted by name */
  int ntmpl, captmpl;
  emit_lib *lib; /* sorted by path */
  int nlib;
  int64_t budget, used;
  int step;     /* instructions between two hook calls */
  int exceeded; /* the budget ran out during this call */
  int plain;    /* the pending error was raised by emit.c: no traceback adds anything */
  size_t mem, mem_limit;
  struct emit_call *call; /* the call running, or NULL */
  int refused;            /* the allocator refused a block during this call */
  char refused_at[300];   /* "templates/x.lua:12:" where the template was then, or "" */
};

/* One call from C: its inputs, where its results go, and how its failure is classified. */
typedef struct emit_call {
  fc_emit *m;
  emit_tmpl *t;
  const fftconv_problem *p;
  int op; /* the problem's op (shape.h), problem.op in Lua */
  const fc_device_info *d;
  const char *params;
  const char *rigor; /* space()'s third argument */
  int invalid; /* the error is the caller's input (params JSON): FFTCONV_ERR_INVALID */
  int oom;     /* a C allocation failed */
  char *unsupported; /* default() returned nil, reason: the reason (malloc'd) */
  fc_candidate *cands;
  int ncands;
  char *json;
  fc_kernel_src *ks;
  fc_template_info *info;
  fc_family_decl *decl;
} emit_call;

/* Shared by emit.c (the state, the sandbox, the template registry) and emit_call.c (the
   translation between C and Lua and the bodies of the entry points). */
fc_emit *emit_self(lua_State *L);
int emit_raise(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int emit_oom(lua_State *L, emit_call *c);
fftconv_status emit_run(fc_emit *m, lua_CFunction body, emit_call *c, fc_err *e);
int emit_require(lua_State *L);
emit_tmpl *emit_find(const fc_emit *m, const char *name);
fftconv_status emit_unknown(const fc_emit *m, const char *name, fc_err *e);
void emit_push_template(lua_State *L, emit_call *c);
void emit_fill_info(lua_State *L, emit_call *c, int idx, fc_template_info *info);

#endif
