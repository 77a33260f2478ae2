/* ops: the table of operations (see shape.h). Forward is built in; fc_op_register adds
 * others. */
#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "shape.h"

static const char *const forward_args[] = {"u", "pre", "post", "y", "k", "d", "k_hat", "ws",
                                           "rows", "row0", "major", "L", "H", "K", "F", "N",
                                           NULL};
static const char *const forward_phases[] = {"prepare", "forward", NULL};
static const char *const backward_args[] = {"u", "pre", "post", "dy", "du", "dpre", "dpost",
                                            "dk", "dd", "k", "d", "k_hat", "ws", "rows", "row0",
                                            "major", "L", "H", "K", "F", "N", NULL};
static const char *const backward_phases[] = {"prepare", "backward", NULL};

static fc_op_def ops[FC_MAX_OPS] = {{"forward", forward_args, forward_phases, NULL},
                                    {"backward", backward_args, backward_phases, NULL}};
static int nops = 2;

const fc_op_def *fc_op_get(fc_op op) { return op >= 0 && op < nops ? &ops[op] : NULL; }

int fc_op_count(void) { return nops; }

const char *fc_op_name(fc_op op) { return op >= 0 && op < nops ? ops[op].name : "?"; }

int fc_op_find(const char *name) {
  for (int op = 0; name && op < nops; op++)
    if (!strcmp(name, ops[op].name)) return op;
  return -1;
}

static int is_ident(const char *s) {
  if (!s || !*s || strlen(s) > 31) return 0;
  for (const char *c = s; *c; c++)
    if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (c > s && *c >= '0' && *c <= '9')))
      return 0;
  return 1;
}

int fc_op_register(const fc_op_def *d, fc_err *e) {
  if (!d || !is_ident(d->name)) {
    fc_fail(e, FFTCONV_ERR_INVALID, "op: a name must be a C identifier of at most 31 bytes");
    return -1;
  }
  if (fc_op_find(d->name) >= 0) {
    fc_fail(e, FFTCONV_ERR_INVALID, "op: '%s' exists already", d->name);
    return -1;
  }
  if (nops == FC_MAX_OPS) {
    fc_fail(e, FFTCONV_ERR_INVALID, "op: at most %d ops", FC_MAX_OPS);
    return -1;
  }
  ops[nops] = *d;
  return nops++;
}

const char *fc_key_op_name(const char *key, char *buf, size_t len) {
  const char *colon = key ? strchr(key, ':') : NULL;
  size_t n = colon ? (size_t)(colon - key) : 0;
  if (!colon || !n || n >= len) {
    snprintf(buf, len, "%s", colon ? "?" : fc_op_name(FC_OP_FORWARD));
    return buf;
  }
  memcpy(buf, key, n);
  buf[n] = 0;
  return buf;
}

static int listed(const char *const *list, const char *name) {
  if (!list) return 1;
  for (; *list; list++)
    if (!strcmp(*list, name)) return 1;
  return 0;
}

fftconv_status fc_op_check_manifest(fc_op op, const fc_manifest *m, fc_err *e) {
  const fc_op_def *d = fc_op_get(op);
  if (!d) return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", op);
  for (int i = 0; i < m->nlaunch; i++) {
    const fc_launch *l = &m->launch[i];
    const char *ph = fc_phase_name(l->phase);
    if (!listed(d->phases, ph))
      return fc_fail(e, FFTCONV_ERR_TEMPLATE, "manifest: launch %s is of phase %s, which op %s "
                     "does not have", l->entry, ph, d->name);
    for (int a = 0; a < l->nargs; a++) {
      int k = l->args[a];
      const char *name = k >= FC_ARG_WS && k < FC_ARG_WS + FC_MAX_WORKSPACE ? "ws"
                                                                             : fc_arg_name(k, m);
      if (!listed(d->args, name))
        return fc_fail(e, FFTCONV_ERR_TEMPLATE, "manifest: launch %s takes argument %s, which "
                       "op %s does not use", l->entry, fc_arg_name(k, m), d->name);
    }
  }
  return FFTCONV_OK;
}
