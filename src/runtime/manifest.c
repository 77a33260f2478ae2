/* manifest: the launch manifest's JSON form, its validation and its sizes (see kernel.h).
 * The reader is strict and small, on json.h's cursor: objects, arrays, strings without
 * escapes beyond \" and \\, and integers are all a manifest holds. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "kernel.h"
#include "shape.h"

#define phase_names ((const char *const *)fc_phase_names) /* args.c */
static const char *const over_names[] = {[FC_OVER_ONE] = "one", [FC_OVER_ROWS] = "rows",
                                         [FC_OVER_HEADS] = "heads"};

const char *fc_over_name(fc_over o) { return (unsigned)o < 3 ? over_names[o] : "?"; }

/* ---- the reader (on json.h's cursor) ---- */

/* Skips one value of any kind (keys of unknown purpose are errors, but the two passes over
   the top-level object each skip what the other reads). */
static int jr_skip(fc_json_cur *r, int depth) {
  char tmp[256];
  int64_t v;
  fc_json_ws(r);
  if (depth > 16) return fc_json_fail(r, "nesting too deep");
  if (*r->p == '"') return fc_json_string(r, tmp, sizeof tmp);
  if (*r->p == '-' || isdigit((unsigned char)*r->p)) return fc_json_int(r, INT64_MIN, INT64_MAX, &v);
  char close = *r->p == '{' ? '}' : *r->p == '[' ? ']' : 0;
  if (!close) return fc_json_fail(r, "expected a value");
  r->p++;
  for (int k = 0; !fc_json_peek(r, close); k++) {
    if (k && !fc_json_expect(r, ',')) return 0;
    if (close == '}' && (!fc_json_string(r, tmp, sizeof tmp) || !fc_json_expect(r, ':'))) return 0;
    if (!jr_skip(r, depth + 1)) return 0;
  }
  return fc_json_expect(r, close);
}

/* An array of n integers in [1, INT32_MAX]; json.lua writes an empty Lua table as {}. */
/* A string that must be one of names[0 .. n-1]: its index into *out. */
static int jr_enum(fc_json_cur *r, const char *const *names, int n, const char *field, int *out) {
  char s[16];
  const char *at = r->p;
  if (!fc_json_string(r, s, sizeof s)) return 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) {
      *out = i;
      return 1;
    }
  r->p = at;
  char what[96];
  snprintf(what, sizeof what, "%s '%s' is not one of %s, %s%s%s", field, s, names[0], names[1],
           n > 2 ? ", " : "", n > 2 ? names[2] : "");
  return fc_json_fail(r, what);
}

static int jr_int3(fc_json_cur *r, int *out) {
  int64_t v;
  if (!fc_json_expect(r, '[')) return 0;
  for (int i = 0; i < 3; i++) {
    if (i && !fc_json_expect(r, ',')) return 0;
    if (!fc_json_int(r, 1, INT32_MAX, &v)) return 0;
    out[i] = (int)v;
  }
  return fc_json_expect(r, ']');
}

static int arg_lookup(const fc_manifest *m, const char *name) {
  if (!strncmp(name, "ws:", 3)) {
    for (int i = 0; i < m->nws; i++)
      if (!strcmp(m->ws[i].name, name + 3)) return FC_ARG_WS + i;
    return -1;
  }
  return fc_arg_find(name);
}

/* A list of argument names into args (n of them), or a bit mask of buffers (mask non-NULL).
   An empty list may be written [] or {}. */
static int jr_names(fc_json_cur *r, const fc_manifest *m, uint8_t *args, int *n, uint32_t *mask) {
  fc_json_ws(r);
  if (r->p[0] == '{') {
    r->p++;
    if (n) *n = 0;
    if (mask) *mask = 0;
    return fc_json_expect(r, '}');
  }
  if (!fc_json_expect(r, '[')) return 0;
  int k = 0;
  if (mask) *mask = 0;
  while (!fc_json_peek(r, ']')) {
    if (k && !fc_json_expect(r, ',')) return 0;
    char name[48];
    const char *at = r->p;
    if (!fc_json_string(r, name, sizeof name)) return 0;
    int a = arg_lookup(m, name);
    if (a < 0 || (mask && !FC_ARG_IS_BUFFER(a))) {
      r->p = at;
      char what[96];
      snprintf(what, sizeof what, "'%s' is not %s", name, mask ? "a buffer" : "an argument");
      return fc_json_fail(r, what);
    }
    if (mask) {
      *mask |= 1u << a;
    } else {
      if (k == FC_MAX_ARGS) return fc_json_fail(r, "too many arguments");
      args[k] = (uint8_t)a;
    }
    k++;
  }
  if (n) *n = k;
  return fc_json_expect(r, ']');
}

typedef struct launch_ctx {
  fc_manifest *m;
  fc_launch *l;
  unsigned seen;
} launch_ctx;

static int once(unsigned *seen, int bit) {
  if (*seen & 1u << bit) return 0;
  *seen |= 1u << bit;
  return 1;
}

static int grid_field(fc_json_cur *r, const char *key, void *arg) {
  launch_ctx *c = arg;
  fc_launch *l = c->l;
  int64_t v;
  int o = 0;
  if (!strcmp(key, "over") && once(&c->seen, 16)) {
    if (!jr_enum(r, over_names, 3, "grid.over", &o)) return 0;
    l->over = (fc_over)o;
    return 1;
  }
  int *dst = !strcmp(key, "per") && once(&c->seen, 17) ? &l->per
             : !strcmp(key, "y") && once(&c->seen, 18) ? &l->grid_y
             : !strcmp(key, "z") && once(&c->seen, 19) ? &l->grid_z : NULL;
  if (!dst) return -1;
  if (!fc_json_int(r, 1, dst == &l->per ? INT32_MAX : 65535, &v)) return 0;
  *dst = (int)v;
  return 1;
}

static int launch_field(fc_json_cur *r, const char *key, void *arg) {
  launch_ctx *c = arg;
  fc_launch *l = c->l;
  int64_t v;
  int ph = 0;
  static const char *const keys[] = {"entry", "phase", "grid", "block", "smem", "cluster",
                                     "args", "reads", "writes"};
  int k = 0;
  while (k < 9 && strcmp(keys[k], key)) k++;
  if (k == 9 || !once(&c->seen, k)) return -1;
  switch (k) {
  case 0: return fc_json_string(r, l->entry, sizeof l->entry);
  case 1:
    if (!jr_enum(r, phase_names, fc_phase_count(), "phase", &ph)) return 0;
    l->phase = (fc_phase)ph;
    return 1;
  case 2: return fc_json_object(r, grid_field, c);
  case 3: return jr_int3(r, l->block);
  case 4:
    if (!fc_json_int(r, 0, INT32_MAX, &v)) return 0;
    l->smem = (int)v;
    return 1;
  case 5: return jr_int3(r, l->cluster);
  case 6: return jr_names(r, c->m, l->args, &l->nargs, NULL);
  case 7: return jr_names(r, c->m, NULL, NULL, &l->reads);
  default: return jr_names(r, c->m, NULL, NULL, &l->writes);
  }
}

typedef struct top_ctx {
  fc_manifest *m;
  int pass;       /* 0: the workspace only; 1: everything else */
  unsigned seen;
  int64_t version;
} top_ctx;

static int ws_field(fc_json_cur *r, const char *key, void *arg) {
  top_ctx *c = arg;
  fc_workspace_region *w = &c->m->ws[c->m->nws];
  if (!strcmp(key, "name") && once(&c->seen, 0)) return fc_json_string(r, w->name, sizeof w->name);
  if (!strcmp(key, "per_row") && once(&c->seen, 1)) return fc_json_int(r, 0, INT64_MAX / 4, &w->per_row);
  if (!strcmp(key, "fixed") && once(&c->seen, 2)) return fc_json_int(r, 0, INT64_MAX / 4, &w->fixed);
  if (!strcmp(key, "per_head") && once(&c->seen, 3))
    return fc_json_int(r, 0, INT64_MAX / 4, &w->per_head);
  return -1;
}

static int filter_field(fc_json_cur *r, const char *key, void *arg) {
  top_ctx *c = arg;
  fc_manifest *m = c->m;
  if (!strcmp(key, "layout") && once(&c->seen, 8))
    return fc_json_string(r, m->filter_layout, sizeof m->filter_layout);
  if (!strcmp(key, "per_head") && once(&c->seen, 9))
    return fc_json_int(r, 0, INT64_MAX / 4, &m->filter_per_head);
  if (!strcmp(key, "fixed") && once(&c->seen, 10))
    return fc_json_int(r, 0, INT64_MAX / 4, &m->filter_fixed);
  return -1;
}

/* An array of objects (or {} for none), each read by fn into slot *n. */
static int jr_list(fc_json_cur *r, int max, int *n, int (*one)(fc_json_cur *r, void *arg, int i), void *arg) {
  fc_json_ws(r);
  if (r->p[0] == '{') {
    r->p++;
    return fc_json_expect(r, '}');
  }
  if (!fc_json_expect(r, '[')) return 0;
  for (int k = 0; !fc_json_peek(r, ']'); k++) {
    if (k && !fc_json_expect(r, ',')) return 0;
    if (*n == max) return fc_json_fail(r, "too many entries");
    if (!one(r, arg, *n)) return 0;
    (*n)++;
  }
  return fc_json_expect(r, ']');
}

static int one_ws(fc_json_cur *r, void *arg, int i) {
  top_ctx *c = arg;
  unsigned seen = c->seen;
  c->seen = 0;
  int ok = fc_json_object(r, ws_field, c);
  if (ok && !(c->seen & 1)) ok = fc_json_fail(r, "a workspace region without a name");
  c->seen = seen;
  return ok;
}

static int one_launch(fc_json_cur *r, void *arg, int i) {
  top_ctx *t = arg;
  fc_launch *l = &t->m->launch[i];
  l->grid_y = l->grid_z = l->block[1] = l->block[2] = 1;
  l->cluster[0] = l->cluster[1] = l->cluster[2] = 1;
  launch_ctx c = {t->m, l, 0};
  if (!fc_json_object(r, launch_field, &c)) return 0;
  /* entry, phase, grid (over, per), block, smem, args; the rest have defaults */
  if ((c.seen & 0x5f) != 0x5f || (c.seen & (3u << 16)) != (3u << 16))
    return fc_json_fail(r, "a launch needs entry, phase, grid.over, grid.per, block, smem and args");
  return 1;
}

static int top_field(fc_json_cur *r, const char *key, void *arg) {
  top_ctx *c = arg;
  fc_manifest *m = c->m;
  if (!strcmp(key, "workspace")) {
    if (!once(&c->seen, 16 + c->pass)) return -1;
    if (c->pass == 0) return jr_list(r, FC_MAX_WORKSPACE, &m->nws, one_ws, c);
    return jr_skip(r, 0);
  }
  if (c->pass == 0) return jr_skip(r, 0);
  if (!strcmp(key, "version") && once(&c->seen, 0)) return fc_json_int(r, 0, INT32_MAX, &c->version);
  if (!strcmp(key, "launches") && once(&c->seen, 1))
    return jr_list(r, FC_MAX_LAUNCHES, &m->nlaunch, one_launch, c);
  if (!strcmp(key, "filter") && once(&c->seen, 2)) return fc_json_object(r, filter_field, c);
  if (!strcmp(key, "row_group") && once(&c->seen, 3))
    return fc_json_int(r, 0, INT32_MAX, &m->row_group);
  if (!strcmp(key, "row_order") && once(&c->seen, 4)) {
    static const char *const orders[] = {"rows", "head"};
    return jr_enum(r, orders, 2, "row_order", &m->row_head);
  }
  return -1;
}

fftconv_status fc_manifest_parse(const char *json, fc_manifest *m, fc_err *e) {
  memset(m, 0, sizeof *m);
  if (!json) return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: none");
  /* Two passes: the workspace regions first, so that launches can name them. */
  for (int pass = 0; pass < 2; pass++) {
    fc_json_cur r = {json, json, "manifest", e, 0, 0, NULL};
    top_ctx c = {m, pass, 0, FC_MANIFEST_VERSION};
    if (!fc_json_object(&r, top_field, &c)) return FFTCONV_ERR_INVALID;
    fc_json_ws(&r);
    if (*r.p) {
      fc_json_fail(&r, "text after the manifest");
      return FFTCONV_ERR_INVALID;
    }
    if (pass == 1 && c.version != FC_MANIFEST_VERSION)
      return fc_fail(e, FFTCONV_ERR_INVALID,
                     "manifest: version %" PRId64 " is not one this build reads (%d)", c.version,
                     FC_MANIFEST_VERSION);
    if (pass == 1 && (c.seen & 0x7) != 0x7)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: needs version, launches and filter");
  }
  return fc_manifest_check(m, e);
}

/* ---- validation ---- */

static int is_ident(const char *s) {
  if (!s[0] || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_') return 0;
  return 1;
}

fftconv_status fc_manifest_check(const fc_manifest *m, fc_err *e) {
  if (m->nlaunch < 1 || m->nlaunch > FC_MAX_LAUNCHES)
    return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %d launches (1 to %d)", m->nlaunch,
                   FC_MAX_LAUNCHES);
  int forward = 0;
  for (int i = 0; i < m->nws; i++)
    if (!is_ident(m->ws[i].name))
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: workspace name '%s' is not an identifier",
                     m->ws[i].name);
  for (int i = 0; i < m->nlaunch; i++) {
    const fc_launch *l = &m->launch[i];
    if (!is_ident(l->entry))
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: launch %d: entry '%s' is not a C "
                     "identifier", i, l->entry);
    /* each factor bounded before the product, which then cannot overflow */
    int in_range = 1;
    for (int k = 0; k < 3; k++) in_range &= l->block[k] >= 1 && l->block[k] <= 1024;
    if (!in_range || l->block[0] * l->block[1] * l->block[2] > 1024)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: block %dx%dx%d (1 to 1024 threads)",
                     l->entry, l->block[0], l->block[1], l->block[2]);
    if (l->per < 1 || l->grid_y < 1 || l->grid_z < 1 || l->smem < 0)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: grid per %d, y %d, z %d, smem %d",
                     l->entry, l->per, l->grid_y, l->grid_z, l->smem);
    in_range = 1;
    for (int k = 0; k < 3; k++) in_range &= l->cluster[k] >= 1 && l->cluster[k] <= 16;
    if (!in_range || l->cluster[0] * l->cluster[1] * l->cluster[2] > 16 ||
        l->grid_y % l->cluster[1] || l->grid_z % l->cluster[2])
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: cluster %dx%dx%d (at most 16 "
                     "blocks, dividing grid y %d and z %d)", l->entry, l->cluster[0],
                     l->cluster[1], l->cluster[2], l->grid_y, l->grid_z);
    uint32_t argmask = 0;
    for (int a = 0; a < l->nargs; a++) {
      if (l->args[a] >= fc_arg_count() ||
          (l->args[a] >= FC_ARG_WS + m->nws && l->args[a] < FC_ARG_ROWS))
        return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: argument %d is unknown", l->entry,
                       a);
      argmask |= 1u << l->args[a];
    }
    if ((l->reads | l->writes) & ~argmask)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: reads or writes a buffer that is "
                     "not one of its arguments", l->entry);
    uint32_t inputs = 1u << FC_ARG_U | 1u << FC_ARG_PRE | 1u << FC_ARG_POST | 1u << FC_ARG_K |
                      1u << FC_ARG_D | 1u << FC_ARG_DY;
    if (l->writes & inputs)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: writes an input buffer", l->entry);
    if (l->phase == FC_PHASE_PREPARE &&
        (argmask & (1u << FC_ARG_U | 1u << FC_ARG_Y | 1u << FC_ARG_PRE | 1u << FC_ARG_POST)))
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: a prepare launch takes u, y or a "
                     "gate", l->entry);
    if (l->phase != FC_PHASE_PREPARE && (l->writes & 1u << FC_ARG_KHAT))
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: a %s launch writes k_hat",
                     l->entry, fc_phase_name(l->phase));
    forward += l->phase != FC_PHASE_PREPARE;
  }
  /* every op's kernel runs after its filter is prepared: forward, backward, or an op's own */
  if (!forward) return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: no launch but prepare ones");
  if (m->row_head != 0 && m->row_head != 1)
    return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: row_order %d (0: rows, 1: head)",
                   m->row_head);
  if (m->row_group < 0 || m->row_group > INT32_MAX || m->row_group % 2)
    return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: row_group %" PRId64 " (0, or even, up "
                   "to 2^31 - 1)", m->row_group);
  for (int i = 0; i < m->nlaunch && m->row_group; i++) {
    const fc_launch *l = &m->launch[i];
    if (l->phase == FC_PHASE_PREPARE) continue;
    if (l->over != FC_OVER_ROWS || m->row_group % l->per || l->cluster[0] > 1)
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: %s: with row_group %" PRId64 " every "
                     "launch but prepare ones must be over rows, its grid.per dividing the "
                     "group, without a cluster along x", l->entry, m->row_group);
  }
  if (!m->filter_layout[0])
    return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: the filter layout has no name");
  /* a layout is named like "monarch_tc.pair.16x16x16": letters, digits, '_', '.' and '-'
     only, so that the name is written back (fc_manifest_json, messages, bundles) as it is
     (a fuzzer found a name of backslashes that the canonical text could not carry) */
  for (const char *c = m->filter_layout; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
      return fc_fail(e, FFTCONV_ERR_INVALID, "manifest: the filter layout '%.60s' holds a "
                     "character other than letters, digits, '_', '.' and '-'",
                     m->filter_layout);
  return FFTCONV_OK;
}

/* ---- the writer ---- */

static void names_json(fc_str *b, const fc_manifest *m, const uint8_t *args, int n,
                       uint32_t mask) {
  fc_str_add(b, "[");
  int k = 0;
  if (args) {
    for (int i = 0; i < n; i++) fc_str_add(b, "%s\"%s\"", i ? "," : "", fc_arg_name(args[i], m));
  } else {
    for (int a = 0; a < FC_MAX_ARG_DEFS; a++)
      if (mask & 1u << a) fc_str_add(b, "%s\"%s\"", k++ ? "," : "", fc_arg_name(a, m));
  }
  fc_str_add(b, "]");
}

char *fc_manifest_json(const fc_manifest *m) {
  fc_str b = {0};
  fc_str_add(&b, "{\"version\":%d,\"launches\":[", FC_MANIFEST_VERSION);
  for (int i = 0; i < m->nlaunch; i++) {
    const fc_launch *l = &m->launch[i];
    fc_str_add(&b, "%s{\"entry\":\"%s\",\"phase\":\"%s\",\"grid\":{\"over\":\"%s\",\"per\":%d,"
               "\"y\":%d,\"z\":%d},\"block\":[%d,%d,%d],\"smem\":%d,\"cluster\":[%d,%d,%d],"
               "\"args\":", i ? "," : "", l->entry, fc_phase_name(l->phase),
               fc_over_name(l->over), l->per, l->grid_y, l->grid_z, l->block[0], l->block[1],
               l->block[2], l->smem, l->cluster[0], l->cluster[1], l->cluster[2]);
    names_json(&b, m, l->args, l->nargs, 0);
    fc_str_add(&b, ",\"reads\":");
    names_json(&b, m, NULL, 0, l->reads);
    fc_str_add(&b, ",\"writes\":");
    names_json(&b, m, NULL, 0, l->writes);
    fc_str_add(&b, "}");
  }
  fc_str_add(&b, "],\"workspace\":[");
  /* per_head only when not 0: the text of a manifest without it (every forward's, which
     the emitted source and emit-digest carry) stays what it was before the field. */
  for (int i = 0; i < m->nws; i++) {
    fc_str_add(&b, "%s{\"name\":\"%s\",\"per_row\":%" PRId64 ",\"fixed\":%" PRId64,
               i ? "," : "", m->ws[i].name, m->ws[i].per_row, m->ws[i].fixed);
    if (m->ws[i].per_head) fc_str_add(&b, ",\"per_head\":%" PRId64, m->ws[i].per_head);
    fc_str_add(&b, "}");
  }
  fc_str_add(&b, "],\"filter\":{\"layout\":\"%s\",\"per_head\":%" PRId64 ",\"fixed\":%" PRId64
             "}", m->filter_layout, m->filter_per_head, m->filter_fixed);
  /* only when not 0, as per_head: every other manifest's text stays what it was */
  if (m->row_group) fc_str_add(&b, ",\"row_group\":%" PRId64, m->row_group);
  if (m->row_head) fc_str_add(&b, ",\"row_order\":\"head\"");
  fc_str_add(&b, "}");
  if (b.oom) {
    fc_str_free(&b);
    return NULL;
  }
  return b.s;
}

void fc_manifest_describe(const fc_manifest *m, const char *indent, fc_str *b) {
  for (int i = 0; i < m->nlaunch; i++) {
    const fc_launch *l = &m->launch[i];
    fc_str_add(b, "%s%s (%s): grid %s/%d", indent, l->entry, fc_phase_name(l->phase),
               fc_over_name(l->over), l->per);
    if (l->grid_y > 1 || l->grid_z > 1) fc_str_add(b, " x %d x %d", l->grid_y, l->grid_z);
    fc_str_add(b, ", %d threads", l->block[0] * l->block[1] * l->block[2]);
    fc_str_add(b, ", %d B smem", l->smem);
    if (l->cluster[0] * l->cluster[1] * l->cluster[2] > 1)
      fc_str_add(b, ", cluster %dx%dx%d", l->cluster[0], l->cluster[1], l->cluster[2]);
    fc_str_add(b, ";");
    for (int a = 0; a < FC_MAX_ARG_DEFS; a++)
      if (l->reads & 1u << a) fc_str_add(b, " %s", fc_arg_name(a, m));
    fc_str_add(b, " ->");
    for (int a = 0; a < FC_MAX_ARG_DEFS; a++)
      if (l->writes & 1u << a) fc_str_add(b, " %s", fc_arg_name(a, m));
    fc_str_add(b, "\n");
  }
  for (int i = 0; i < m->nws; i++) {
    fc_str_add(b, "%sworkspace %s: %" PRId64 " B + %" PRId64 " B a row", indent,
               m->ws[i].name, m->ws[i].fixed, m->ws[i].per_row);
    if (m->ws[i].per_head) fc_str_add(b, " + %" PRId64 " B a head", m->ws[i].per_head);
    fc_str_add(b, "\n");
  }
  fc_str_add(b, "%sfilter %s: %" PRId64 " B + %" PRId64 " B a head\n", indent, m->filter_layout,
             m->filter_fixed, m->filter_per_head);
  if (m->row_group)
    fc_str_add(b, "%srow groups of %" PRId64 " rows (the workspace sized for one)\n", indent,
               m->row_group);
  if (m->row_head) fc_str_add(b, "%srows head-major (a head's batch one after another)\n", indent);
}

static void set_args(fc_launch *l, const uint8_t *args, int n) {
  memcpy(l->args, args, (size_t)n);
  l->nargs = n;
}

void fc_manifest_two_launch(fc_manifest *m, const char *fwd_entry, int threads, int smem,
                            int seqs, const char *prep_entry, int prep_threads, int prep_smem,
                            int prep_seqs, int64_t khat, int64_t khat_table,
                            const char *filter_layout) {
  static const uint8_t prep_args[] = {FC_ARG_K, FC_ARG_D, FC_ARG_KHAT, FC_ARG_H, FC_ARG_KLEN,
                                      FC_ARG_F};
  static const uint8_t fwd_args[] = {FC_ARG_U, FC_ARG_PRE, FC_ARG_POST, FC_ARG_KHAT,
                                     FC_ARG_Y, FC_ARG_ROWS, FC_ARG_L, FC_ARG_H};
  memset(m, 0, sizeof *m);
  m->nlaunch = 2;
  fc_launch *p = &m->launch[0], *f = &m->launch[1];
  snprintf(p->entry, sizeof p->entry, "%s", prep_entry);
  p->phase = FC_PHASE_PREPARE;
  p->over = FC_OVER_HEADS;
  p->per = prep_seqs;
  p->block[0] = prep_threads;
  p->smem = prep_smem;
  set_args(p, prep_args, (int)sizeof prep_args);
  p->reads = 1u << FC_ARG_K | 1u << FC_ARG_D;
  p->writes = 1u << FC_ARG_KHAT;
  snprintf(f->entry, sizeof f->entry, "%s", fwd_entry);
  f->phase = FC_PHASE_FORWARD;
  f->over = FC_OVER_ROWS;
  f->per = seqs;
  f->block[0] = threads;
  f->smem = smem;
  set_args(f, fwd_args, (int)sizeof fwd_args);
  f->reads = 1u << FC_ARG_U | 1u << FC_ARG_PRE | 1u << FC_ARG_POST | 1u << FC_ARG_KHAT;
  f->writes = 1u << FC_ARG_Y;
  for (int i = 0; i < 2; i++) {
    fc_launch *l = &m->launch[i];
    l->grid_y = l->grid_z = l->block[1] = l->block[2] = 1;
    l->cluster[0] = l->cluster[1] = l->cluster[2] = 1;
  }
  snprintf(m->filter_layout, sizeof m->filter_layout, "%s", filter_layout);
  m->filter_per_head = khat * 8;
  m->filter_fixed = khat_table * 8;
}

/* ---- sizes ---- */

/* Sizes are checked: a manifest's per-row and per-head bytes come from a cache row or a
   bundle (up to INT64_MAX / 4 each), the rows and heads from the problem (up to 2^40); a
   product that wrapped would bind a workspace smaller than the kernel writes. -1 means it
   overflowed. */
int64_t fc_workspace_align(int64_t x) {
  if (x < 0 || x > INT64_MAX - (FC_WORKSPACE_ALIGN - 1)) return -1;
  return (x + FC_WORKSPACE_ALIGN - 1) / FC_WORKSPACE_ALIGN * FC_WORKSPACE_ALIGN;
}

/* fixed + n * each, or -1 when it overflows (or any is negative). */
static int64_t fixed_plus(int64_t fixed, int64_t n, int64_t each) {
  int64_t v;
  if (fixed < 0 || n < 0 || each < 0 || __builtin_mul_overflow(n, each, &v) ||
      __builtin_add_overflow(v, fixed, &v))
    return -1;
  return v;
}

int64_t fc_manifest_region_bytes(const fc_manifest *m, int64_t rows, int64_t heads, int i) {
  if (i < 0 || i >= m->nws) return -1;
  const fc_workspace_region *w = &m->ws[i];
  int64_t b = fixed_plus(w->fixed, rows, w->per_row);
  return b < 0 ? -1 : fixed_plus(b, heads, w->per_head);
}

int64_t fc_manifest_ws_rows(const fc_manifest *m, int64_t rows) {
  return m->row_group > 0 && rows > m->row_group ? m->row_group : rows;
}

int64_t fc_manifest_workspace_offset(const fc_manifest *m, int64_t rows, int64_t heads, int i) {
  int64_t off = 0;
  rows = fc_manifest_ws_rows(m, rows);
  for (int j = 0; j < i && j < m->nws; j++) {
    int64_t b = fc_manifest_region_bytes(m, rows, heads, j);
    if (b < 0 || __builtin_add_overflow(off, b, &off) || (off = fc_workspace_align(off)) < 0) return -1;
  }
  return off;
}

int64_t fc_manifest_workspace_bytes(const fc_manifest *m, int64_t rows, int64_t heads) {
  return m->nws ? fc_manifest_workspace_offset(m, rows, heads, m->nws) : 0;
}

int64_t fc_manifest_filter_bytes(const fc_manifest *m, int64_t heads) {
  return fixed_plus(m->filter_fixed, heads, m->filter_per_head);
}

int64_t fc_manifest_launch_bytes(const fc_manifest *m, int i, const fc_shape *s) {
  if (i < 0 || i >= m->nlaunch) return 0;
  const fc_launch *l = &m->launch[i];
  int64_t io = fixed_plus(0, s->rows, s->p.seqlen), total = 0;
  if (io < 0 || __builtin_mul_overflow(io, (int64_t)fftconv_dtype_size(s->p.dtype), &io))
    return -1;
  for (int a = 0; a < FC_MAX_ARG_DEFS; a++) {
    int n = ((l->reads >> a) & 1) + ((l->writes >> a) & 1);
    if (!n) continue;
    int64_t b = 0;
    if (a == FC_ARG_U || a == FC_ARG_PRE || a == FC_ARG_POST || a == FC_ARG_Y) b = io;
    else if (a == FC_ARG_K) b = fixed_plus(0, s->p.heads, s->K * 4);
    else if (a == FC_ARG_D) b = fixed_plus(0, s->p.heads, 4);
    else if (a == FC_ARG_KHAT) b = fc_manifest_filter_bytes(m, s->p.heads);
    else if (a >= FC_ARG_WS && a - FC_ARG_WS < m->nws)
      b = fc_manifest_region_bytes(m, s->rows, s->p.heads, a - FC_ARG_WS);
    if (b < 0 || __builtin_mul_overflow(b, (int64_t)n, &b) ||
        __builtin_add_overflow(total, b, &total))
      return -1;
  }
  return total;
}

int fc_manifest_max_smem(const fc_manifest *m, int phase) {
  int s = 0;
  for (int i = 0; i < m->nlaunch; i++)
    if ((phase < 0 || (int)m->launch[i].phase == phase) && m->launch[i].smem > s)
      s = m->launch[i].smem;
  return s;
}

const fc_launch *fc_manifest_first(const fc_manifest *m, fc_phase phase) {
  for (int i = 0; i < m->nlaunch; i++)
    if (m->launch[i].phase == phase) return &m->launch[i];
  return NULL;
}

const fc_launch *fc_manifest_main(const fc_manifest *m) {
  const fc_launch *l = fc_manifest_first(m, FC_PHASE_FORWARD);
  return l ? l : fc_manifest_first(m, FC_PHASE_BACKWARD);
}
