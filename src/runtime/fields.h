/* fields: the fields of fftconv_problem as data, once, the way cache/columns.c states the
 * cache's columns. Each entry says what the field is (name, type, offset), what it may hold
 * (static range, or the note and hook of a range that depends on other fields), its defaults
 * (fftconv_problem_init's, and the tuner's flag default where it differs), its tuner flag,
 * its JSON name, its part in the problem key and its role in nearest-shape ranking. The
 * problem check and its messages, the key, the Lua problem table, the cache's shape columns,
 * the bundle JSON, the tuner's problem flags and the ranking's must-match set are driven by
 * it. Adding a field: the struct in fftconv.h, FC_PROBLEM_FIELDS below, its entry in fields.c
 * (and bench/bench_torch.py's mirror, which test_fields checks). Runtime layer. */
#ifndef FC_FIELDS_H
#define FC_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "fftconv.h"
#include "util.h"

/* X(name, type): every field after `size`, in the struct's order. columns.c builds the
   cache's shape columns from it; fields.c the table. */
#define FC_PROBLEM_FIELDS(X)                                                                 \
  X(batch, FC_FIELD_INT64) X(heads, FC_FIELD_INT64) X(seqlen, FC_FIELD_INT64)               \
  X(filter_len, FC_FIELD_INT64) X(freq_keep, FC_FIELD_INT64) X(dtype, FC_FIELD_DTYPE)        \
  X(mode, FC_FIELD_MODE) X(pre_gate, FC_FIELD_FLAG) X(post_gate, FC_FIELD_FLAG)              \
  X(skip_d, FC_FIELD_FLAG)

typedef enum fc_field_type {
  FC_FIELD_INT64 = 0, /* int64_t */
  FC_FIELD_DTYPE,     /* fftconv_dtype: fftconv_dtype_name's names */
  FC_FIELD_MODE,      /* fftconv_mode: fftconv_mode_name's names */
  FC_FIELD_FLAG       /* int, 0 or 1 */
} fc_field_type;

/* What nearest-shape ranking (src/store/rank.c) does with a field. */
typedef enum fc_field_rank {
  FC_RANK_MATCH = 0, /* a stored shape stands in only when it is equal */
  FC_RANK_DISTANCE,  /* part of the distance the nearest is chosen by */
  FC_RANK_FULL       /* only whether it resolves to seqlen (a full filter) must match */
} fc_field_rank;

#define FC_FIELD_ID(name, type) FC_FIELD_##name,
typedef enum fc_field_id { FC_PROBLEM_FIELDS(FC_FIELD_ID) FC_NFIELDS } fc_field_id;
#undef FC_FIELD_ID

typedef struct fc_field {
  const char *name;     /* the C member; also its JSON name, cache column and Lua key */
  fc_field_type type;
  size_t offset;        /* offsetof(fftconv_problem, name) */
  size_t size;          /* sizeof the member */
  /* Static range, checked by fftconv_problem_check in table order: below min "NAME: V is out
     of range (must be >= MIN)", above max "NAME: V is out of range (MIN to MAX: MAX_NOTE)".
     min > max: the range depends on other fields and dyn_check checks it all. */
  int64_t min, max;
  const char *max_note;
  const char *range_note; /* the range in words, for help text and documentation */
  /* The check of a range that depends on other fields, after every static one; writes the
     message and returns 0 on failure. NULL: none. */
  int (*dyn_check)(const fftconv_problem *p, char *msg, size_t len);
  int64_t init_default; /* fftconv_problem_init's */
  int64_t flag_default; /* a problem given by the tuner's flags (fc_problem_defaults) */
  const char *flag;     /* the tuner's flag without "--": "seqlen", "filter-len", "pregate" */
  const char *flag_arg; /* its value's placeholder ("L"), NULL for a switch (sets 1) */
  const char *help;     /* the flag's help line */
  const char *json;     /* the name in bundle and export JSON */
  /* The key part: INT64 key_on followed by the value (filter_len resolved); FLAG key_on or
     key_off; DTYPE, MODE the value's name. Parts are joined by '.' in table order. */
  const char *key_on, *key_off;
  fc_field_rank rank;
  /* 1: the key part is written only when the value is not init_default, so that a field added
     after keys were stored leaves every earlier key (cache rows, bundle entries) as it was.
     The fields of the first key have 0: their parts are always written. */
  int key_when_set;
} fc_field;

/* The table, FC_NFIELDS entries in the struct's order. */
extern const fc_field fc_fields[FC_NFIELDS];
/* The field named `name` (C name), or NULL. */
const fc_field *fc_field_find(const char *name);
/* The field whose tuner flag is `flag` (without "--"), or NULL. */
const fc_field *fc_field_by_flag(const char *flag);
/* A field's value as an int64 (enums and flags widened). */
int64_t fc_field_get(const fftconv_problem *p, const fc_field *f);
void fc_field_set(fftconv_problem *p, const fc_field *f, int64_t v);
/* The value with filter_len resolved (0 means seqlen): what the key, the cache and the Lua
   table carry. */
int64_t fc_field_resolved(const fftconv_problem *p, const fc_field *f);
/* The name of an enum field's value v (dtype, mode), or NULL for other types. */
const char *fc_field_enum_name(const fc_field *f, int64_t v);
/* The value of an enum field named `name` into *v: 1, or 0 when there is none. */
int fc_field_enum_find(const fc_field *f, const char *name, int64_t *v);
/* "fp32, fp16, bf16": an enum field's names, into buf. */
const char *fc_field_enum_list(const fc_field *f, char *buf, size_t len);
/* The problem as a JSON object of its fields by their JSON names, as stored (filter_len
   not resolved): {"batch":8,...,"dtype":"fp16","mode":"causal","pre_gate":0,...}. What
   bundle manifests carry as an entry's "shape". Appended to b. */
void fc_fields_json(const fftconv_problem *p, fc_str *b);
/* The problem as the tuner's flags, in table order, each with a space before it:
   " --batch 64 --heads 768 --seqlen 4096 --dtype fp16 --mode causal --pregate". A value that
   resolves as 0 does (filter_len equal to seqlen, freq_keep 0) and a switch that is off are
   left out. What a problem-set line (problem_file.h) and a tune command carry. Appended to b. */
void fc_fields_flags(const fftconv_problem *p, fc_str *b);

#endif
