/* ops: the table of operations (see shape.h). Forward is built in; fc_op_register adds
 * others. */
#include <stdio.h>
#include <string.h>

#include "shape.h"

static const char *const forward_args[] = {"u", "pre", "post", "y", "k", "d", "k_hat", "ws",
                                           "rows", "L", "H", "K", "F", "N", NULL};
static const char *const forward_phases[] = {"prepare", "forward", NULL};

static fc_op_def ops[FC_MAX_OPS] = {{"forward", forward_args, forward_phases, NULL}};
static int nops = 1;

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
