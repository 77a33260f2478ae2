/* args: the tables of kernel arguments and phases a launch manifest may name (see kernel.h).
 * The built-in entries sit at their fc_arg / fc_phase values; an op adds its own with
 * fc_arg_register and fc_phase_register. */
#include <stdio.h>
#include <string.h>

#include "kernel.h"

static fc_arg_def args[FC_MAX_ARG_DEFS] = {
    [FC_ARG_U] = {"u", FC_ARG_BUFFER, NULL},          [FC_ARG_PRE] = {"pre", FC_ARG_BUFFER, NULL},
    [FC_ARG_POST] = {"post", FC_ARG_BUFFER, NULL},    [FC_ARG_Y] = {"y", FC_ARG_BUFFER, NULL},
    [FC_ARG_K] = {"k", FC_ARG_BUFFER, NULL},          [FC_ARG_D] = {"d", FC_ARG_BUFFER, NULL},
    [FC_ARG_KHAT] = {"k_hat", FC_ARG_BUFFER, NULL},
    /* FC_ARG_WS ..: workspace slots, named by the manifest's regions */
    [FC_ARG_ROWS] = {"rows", FC_ARG_SCALAR, "long long"}, [FC_ARG_L] = {"L", FC_ARG_SCALAR, "int"},
    [FC_ARG_H] = {"H", FC_ARG_SCALAR, "int"},         [FC_ARG_KLEN] = {"K", FC_ARG_SCALAR, "int"},
    [FC_ARG_F] = {"F", FC_ARG_SCALAR, "int"},         [FC_ARG_N] = {"N", FC_ARG_SCALAR, "int"},
    [FC_ARG_DY] = {"dy", FC_ARG_BUFFER, NULL},        [FC_ARG_DU] = {"du", FC_ARG_BUFFER, NULL},
    [FC_ARG_DPRE] = {"dpre", FC_ARG_BUFFER, NULL},    [FC_ARG_DPOST] = {"dpost", FC_ARG_BUFFER, NULL},
    [FC_ARG_DK] = {"dk", FC_ARG_BUFFER, NULL},        [FC_ARG_DD] = {"dd", FC_ARG_BUFFER, NULL},
    [FC_ARG_ROW0] = {"row0", FC_ARG_SCALAR, "long long"},
    [FC_ARG_MAJOR] = {"major", FC_ARG_SCALAR, "int"}};
static int nargs = FC_ARG_COUNT;

static int is_ws(int a) { return a >= FC_ARG_WS && a < FC_ARG_WS + FC_MAX_WORKSPACE; }

const fc_arg_def *fc_arg_get(int a) {
  return a >= 0 && a < nargs && !is_ws(a) ? &args[a] : NULL;
}

int fc_arg_count(void) { return nargs; }

int fc_arg_find(const char *name) {
  for (int a = 0; name && a < nargs; a++)
    if (args[a].name && !strcmp(args[a].name, name)) return a;
  return -1;
}

int fc_arg_is_buffer(int a) {
  return is_ws(a) || (a >= 0 && a < nargs && args[a].kind == FC_ARG_BUFFER);
}

/* A name a manifest can carry and a reader can tell from "ws:NAME". */
static int good_name(const char *s) {
  if (!s || !*s || strlen(s) > 31 || strchr(s, ':')) return 0;
  for (const char *c = s; *c; c++)
    if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (c > s && *c >= '0' && *c <= '9')))
      return 0;
  return 1;
}

int fc_arg_register(const fc_arg_def *d, fc_err *e) {
  if (!d || !good_name(d->name))
    return fc_fail(e, FFTCONV_ERR_INVALID, "argument: a name must be a C identifier of at most "
                   "31 bytes"), -1;
  if (fc_arg_find(d->name) >= 0)
    return fc_fail(e, FFTCONV_ERR_INVALID, "argument: '%s' exists already", d->name), -1;
  if (d->kind == FC_ARG_SCALAR &&
      !(d->ctype && (!strcmp(d->ctype, "int") || !strcmp(d->ctype, "long long"))))
    return fc_fail(e, FFTCONV_ERR_INVALID, "argument %s: a scalar is int or long long",
                   d->name), -1;
  if (nargs == FC_MAX_ARG_DEFS)
    return fc_fail(e, FFTCONV_ERR_INVALID, "argument %s: at most %d arguments", d->name,
                   FC_MAX_ARG_DEFS), -1;
  args[nargs] = *d;
  return nargs++;
}

const char *fc_phase_names[FC_MAX_PHASES] = {[FC_PHASE_PREPARE] = "prepare",
                                             [FC_PHASE_FORWARD] = "forward",
                                             [FC_PHASE_BACKWARD] = "backward"};
static int nphases = 3;

int fc_phase_count(void) { return nphases; }

const char *fc_phase_name(fc_phase p) {
  return (int)p >= 0 && (int)p < nphases ? fc_phase_names[p] : "?";
}

int fc_phase_find(const char *name) {
  for (int p = 0; name && p < nphases; p++)
    if (!strcmp(fc_phase_names[p], name)) return p;
  return -1;
}

int fc_phase_register(const char *name, fc_err *e) {
  if (!good_name(name))
    return fc_fail(e, FFTCONV_ERR_INVALID, "phase: a name must be a C identifier"), -1;
  if (fc_phase_find(name) >= 0)
    return fc_fail(e, FFTCONV_ERR_INVALID, "phase: '%s' exists already", name), -1;
  if (nphases == FC_MAX_PHASES)
    return fc_fail(e, FFTCONV_ERR_INVALID, "phase %s: at most %d phases", name, FC_MAX_PHASES),
           -1;
  fc_phase_names[nphases] = name;
  return nphases++;
}

const char *fc_arg_name(int a, const fc_manifest *m) {
  if (a >= FC_ARG_WS && a < FC_ARG_WS + FC_MAX_WORKSPACE) {
    static _Thread_local char buf[40];
    int i = a - FC_ARG_WS;
    snprintf(buf, sizeof buf, "ws:%s", m && i < m->nws ? m->ws[i].name : "?");
    return buf;
  }
  const fc_arg_def *d = fc_arg_get(a);
  return d ? d->name : "?";
}
