/* test_fields: the table of the problem's fields (src/runtime/fields.c) against what states
 * them elsewhere: the public header's struct (names, order, types, offsets), the ctypes
 * mirror in python/fftconv/_capi.py, and what the table drives (init, check, key, flags). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "problem_file.h"
#include "util.h"

/* offsetof and sizeof, from the X-macro: every field of the list is in the table where the
   compiler puts it. */
#define CHECK_AT(n, t)                                                                    \
  _Static_assert(offsetof(fftconv_problem, n) > offsetof(fftconv_problem, size), #n " after size");
FC_PROBLEM_FIELDS(CHECK_AT)
#undef CHECK_AT
/* where each listed field ends: nothing of the struct may come after the last of them */
#define END_AT(n, t) offsetof(fftconv_problem, n) + sizeof ((fftconv_problem *)0)->n,
static const size_t field_end[] = {FC_PROBLEM_FIELDS(END_AT)};
#undef END_AT

Test(fields, the_list_reaches_the_end_of_the_struct) {
  size_t end = 0;
  for (size_t i = 0; i < sizeof field_end / sizeof *field_end; i++)
    if (field_end[i] > end) end = field_end[i];
  cr_assert_lt(sizeof(fftconv_problem) - end, _Alignof(fftconv_problem),
               "fftconv_problem has %zu bytes after its last listed field: a field missing from "
               "FC_PROBLEM_FIELDS", sizeof(fftconv_problem) - end);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  cr_assert(b && fread(b, 1, (size_t)n, f) == (size_t)n);
  b[n] = 0;
  fclose(f);
  return b;
}

static const char *c_type(fc_field_type t) {
  return t == FC_FIELD_INT64 ? "int64_t" : t == FC_FIELD_DTYPE ? "fftconv_dtype"
                                       : t == FC_FIELD_MODE ? "fftconv_mode" : "int";
}

Test(fields, offsets_and_sizes_match_the_struct) {
#define AT(n, t)                                                                          \
  cr_assert_eq(fc_fields[FC_FIELD_##n].offset, offsetof(fftconv_problem, n), #n);          \
  cr_assert_eq(fc_fields[FC_FIELD_##n].size, sizeof ((fftconv_problem *)0)->n, #n);        \
  cr_assert_str_eq(fc_fields[FC_FIELD_##n].name, #n);                                      \
  cr_assert_eq(fc_fields[FC_FIELD_##n].type, t, #n);
  FC_PROBLEM_FIELDS(AT)
#undef AT
  const fc_field *last = &fc_fields[FC_NFIELDS - 1];
  cr_assert_leq(last->offset + last->size, sizeof(fftconv_problem));
  cr_assert_gt(last->offset + last->size + sizeof(int64_t), sizeof(fftconv_problem),
               "a member after the last field of the table");
  for (int i = 1; i < FC_NFIELDS; i++)
    cr_assert_gt(fc_fields[i].offset, fc_fields[i - 1].offset, "table order is struct order");
}

/* The public header's struct fftconv_problem, member by member: "type name" after comments
   are dropped. */
Test(fields, the_public_header_states_the_same_fields) {
  char *h = slurp(SOURCE_DIR "/src/runtime/fftconv.h");
  char *a = strstr(h, "typedef struct fftconv_problem {"), *b = a ? strstr(a, "} fftconv_problem;") : NULL;
  cr_assert(a && b, "no struct fftconv_problem in fftconv.h");
  a = strchr(a, '{') + 1;
  *b = 0;
  for (char *c = a; *c; c++) /* comments out */
    if (c[0] == '/' && c[1] == '*') {
      char *end = strstr(c + 2, "*/");
      cr_assert(end);
      memset(c, ' ', (size_t)(end + 2 - c));
    }
  int i = -1; /* -1: size */
  for (char *save = NULL, *decl = strtok_r(a, ";", &save); decl; decl = strtok_r(NULL, ";", &save)) {
    char type[64], name[64];
    if (sscanf(decl, " %63s %63s", type, name) != 2) continue;
    if (i < 0) {
      cr_assert_str_eq(type, "size_t");
      cr_assert_str_eq(name, "size");
    } else {
      cr_assert_lt(i, FC_NFIELDS, "fftconv.h has a field the table lacks: %s", name);
      cr_assert_str_eq(name, fc_fields[i].name, "field %d", i);
      cr_assert_str_eq(type, c_type(fc_fields[i].type), "%s", name);
    }
    i++;
  }
  cr_assert_eq(i, FC_NFIELDS, "the header has %d fields, the table %d", i, FC_NFIELDS);
  free(h);
}

/* The Python package's ctypes mirror (python/fftconv/_capi.py, which bench_torch.py imports
   too): class Problem's _fields_. */
Test(fields, the_python_mirror_states_the_same_fields) {
  char *py = slurp(SOURCE_DIR "/python/fftconv/_capi.py");
  char *a = strstr(py, "class Problem(C.Structure):");
  cr_assert(a, "no class Problem in python/fftconv/_capi.py");
  a = strstr(a, "_fields_ = [");
  cr_assert(a);
  char *b = strstr(a, "]\n");
  cr_assert(b);
  *b = 0;
  int i = -1;
  for (char *c = a; (c = strstr(c, "(\"")); i++) {
    char name[64], ctype[64];
    cr_assert_eq(sscanf(c, "(\"%63[^\"]\", C.%63[a-z_0-9])", name, ctype), 2, "at %.40s", c);
    c += 2;
    if (i < 0) {
      cr_assert_str_eq(name, "size");
      cr_assert_str_eq(ctype, "c_size_t");
      continue;
    }
    cr_assert_lt(i, FC_NFIELDS, "_capi.py has a field the table lacks: %s", name);
    cr_assert_str_eq(name, fc_fields[i].name, "field %d", i);
    /* enums are ints in C (the header's enums have no negative or large values) */
    cr_assert_str_eq(ctype, fc_fields[i].type == FC_FIELD_INT64 ? "c_int64" : "c_int", "%s",
                     name);
  }
  cr_assert_eq(i, FC_NFIELDS, "_capi.py has %d fields, the table %d", i, FC_NFIELDS);
  free(py);
}

Test(fields, init_flags_and_key_follow_the_table) {
  fftconv_problem p, q;
  fftconv_problem_init(&p);
  fc_problem_defaults(&q);
  for (int i = 0; i < FC_NFIELDS; i++) {
    cr_assert_eq(fc_field_get(&p, &fc_fields[i]), fc_fields[i].init_default, "%s", fc_fields[i].name);
    cr_assert_eq(fc_field_get(&q, &fc_fields[i]), fc_fields[i].flag_default, "%s", fc_fields[i].name);
  }
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  cr_assert_str_eq(key, "B1.H1.L1024.K1024.F0.fp32.causal.nopre.nopost.nod");
  p.batch = 64, p.heads = 768, p.seqlen = 4096, p.dtype = FFTCONV_FP16;
  p.mode = FFTCONV_CIRCULAR, p.pre_gate = p.post_gate = 1, p.freq_keep = 7, p.filter_len = 100;
  cr_assert_eq(fftconv_problem_key(&p, key, sizeof key), 49);
  cr_assert_str_eq(key, "B64.H768.L4096.K100.F7.fp16.circular.pre.post.nod");
  char small[10];
  cr_assert_eq(fftconv_problem_key(&p, small, sizeof small), 49, "the length it needs");
  cr_assert_str_eq(small, "B64.H768.");
  cr_assert_eq(fftconv_problem_key(&p, NULL, 0), 49);
  /* every flag from the table, and its help line */
  fc_str help = {0};
  fc_problem_flags_help(&help);
  char msg[256];
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    char want[64];
    snprintf(want, sizeof want, "  --%s", f->flag);
    cr_assert(strstr(help.s, want), "%s not in:\n%s", want, help.s);
    cr_assert_eq(fc_problem_flag_arg(f->flag), f->flag_arg != NULL, "%s", f->flag);
    const char *arg = f->type == FC_FIELD_DTYPE ? "bf16" : f->type == FC_FIELD_MODE ? "circular" : "3";
    fftconv_problem r = q;
    cr_assert_eq(fc_problem_flag(&r, f->flag, f->flag_arg ? arg : NULL, msg, sizeof msg), 1, "%s", msg);
    cr_assert_eq(fc_field_get(&r, f), f->type == FC_FIELD_FLAG ? 1 : f->type == FC_FIELD_INT64 ? 3 : f->max);
  }
  cr_assert(strstr(help.s, "  --seqlen L        sequence length\n"), "%s", help.s);
  fc_str_free(&help);
  cr_assert_eq(fc_problem_flag(&q, "dtype", "fp8", msg, sizeof msg), -1);
  cr_assert_str_eq(msg, "--dtype: 'fp8' is not one of fp32, fp16, bf16");
  cr_assert_eq(fc_problem_flag(&q, "batch", "0", msg, sizeof msg), -1);
  cr_assert_str_eq(msg, "--batch: '0' is not an integer >= 1");
}

/* Each field with a static range: one value out of it fails the check with a message that
   starts with the field's name. */
Test(fields, each_static_range_is_checked_and_named) {
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    if (f->min > f->max) {
      cr_assert_not_null(f->dyn_check, "%s: no range at all", f->name);
      continue;
    }
    int64_t bad[] = {f->min - 1, f->max == INT64_MAX ? f->min - 2 : f->max + 1};
    for (int k = 0; k < 2; k++) {
      fftconv_problem p;
      fftconv_problem_init(&p);
      fc_field_set(&p, f, bad[k]);
      char msg[512] = "";
      cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_ERR_INVALID, "%s = %lld",
                   f->name, (long long)bad[k]);
      const char *want = f->type == FC_FIELD_FLAG ? "gate flags:" : f->name;
      cr_assert(!strncmp(msg, want, strlen(want)), "'%s' for %s", msg, f->name);
    }
  }
}
