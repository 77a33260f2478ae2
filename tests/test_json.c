/* test_json: the runtime's JSON reader (src/runtime/json.h), its tree: every kind of value,
 * escapes and surrogate pairs, integers at and past 64 bits, numbers in any locale, the
 * limits (depth, values, members kept), compact text, and refusals naming the byte. The
 * cursor is covered through the launch manifest (test_manifest). */
#include <criterion/criterion.h>
#include <locale.h>
#include <string.h>

#include "json.h"

static const fc_json_limits lim = {16, 1000, 100};

static fc_json_doc *parse(const char *text) {
  fc_json_doc *d = NULL;
  char why[160];
  int r = fc_json_parse(text, strlen(text), &lim, &d, why, sizeof why);
  cr_assert_eq(r, FC_JSON_OK, "%s: %s", text, why);
  return d;
}

static void refused(const char *text, const fc_json_limits *l, int want, const char *msg) {
  fc_json_doc *d = NULL;
  char why[160];
  cr_assert_eq(fc_json_parse(text, strlen(text), l, &d, why, sizeof why), want, "%s", text);
  cr_assert_null(d);
  cr_assert(strstr(why, msg), "%s: '%s', not '%s'", text, why, msg);
}

Test(json, values) {
  fc_json_doc *d = parse(" {\"a\": [1, -2.5e1, true, false, null, \"x\"], \"b\": {}, \"a\": 0} ");
  const fc_json *root = fc_json_root(d), *a = fc_json_get(d, root, "a");
  cr_assert_eq(root->type, FC_JSON_OBJECT);
  cr_assert_eq(root->n, 3);
  cr_assert_eq(a->type, FC_JSON_ARRAY, "the first of a repeated key");
  cr_assert_eq(a->n, 6);
  const fc_json *v = fc_json_first(d, a);
  cr_assert(v->type == FC_JSON_INT && v->i == 1);
  v = fc_json_next(d, v);
  cr_assert(v->type == FC_JSON_REAL && v->d == -25.0);
  cr_assert_eq(fc_json_next(d, v)->type, FC_JSON_TRUE);
  cr_assert_str_eq(fc_json_what(fc_json_get(d, root, "b")), "an object");
  cr_assert_null(fc_json_get(d, root, "c"));
  cr_assert_str_eq(fc_json_what(NULL), "missing");
  char *c = fc_json_compact(d, a);
  cr_assert_str_eq(c, "[1,-2.5e1,true,false,null,\"x\"]");
  free(c);
  fc_json_free(d);
}

Test(json, strings) {
  fc_json_doc *d = parse("[\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\\ud83d\\ude00\", "
                         "\"a\\u0000b\", \" x \"]");
  const fc_json *v = fc_json_first(d, fc_json_root(d));
  cr_assert_str_eq(v->s, "a\"\\/\b\f\n\r\t");
  v = fc_json_next(d, v);
  cr_assert_str_eq(v->s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  v = fc_json_next(d, v);
  cr_assert(v->n == 3 && !memcmp(v->s, "a\0b", 3));
  char *c = fc_json_compact(d, fc_json_root(d));
  cr_assert(strstr(c, "\" x \""), "%s", c);
  free(c);
  fc_json_free(d);
  refused("\"\\ud800\"", &lim, FC_JSON_MALFORMED, "lone surrogate in \\u escape at byte 1");
  refused("\"\\udc00x\"", &lim, FC_JSON_MALFORMED, "lone surrogate");
  refused("\"\\u12g4\"", &lim, FC_JSON_MALFORMED, "four hexadecimal digits");
  refused("\"\\x\"", &lim, FC_JSON_MALFORMED, "unsupported string escape");
  refused("\"a\nb\"", &lim, FC_JSON_MALFORMED, "control character in string at byte 3");
  refused("\"abc", &lim, FC_JSON_MALFORMED, "expected '\"' at byte 4");
}

Test(json, integers) {
  fc_json_doc *d = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, "
                         "-9223372036854775809, 99999999999999999999999]");
  const fc_json *v = fc_json_first(d, fc_json_root(d));
  cr_assert(v->i == INT64_MAX && !v->big);
  v = fc_json_next(d, v);
  cr_assert(v->i == INT64_MIN && !v->big);
  v = fc_json_next(d, v);
  cr_assert(v->big && v->i == INT64_MAX);
  v = fc_json_next(d, v);
  cr_assert(v->big && v->i == INT64_MIN);
  v = fc_json_next(d, v);
  cr_assert(v->big && v->type == FC_JSON_INT && v->d > 9e22);
  fc_json_free(d);
  refused("01", &lim, FC_JSON_MALFORMED, "text after the value at byte 1");
  refused("1.", &lim, FC_JSON_MALFORMED, "expected a digit after '.'");
  refused("1e+", &lim, FC_JSON_MALFORMED, "expected a digit in the exponent");
  refused("-", &lim, FC_JSON_MALFORMED, "expected a value at byte 1");
}

Test(json, numbers_in_any_locale) {
  const char *old = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  fc_json_doc *d = parse("0.25");
  cr_assert_eq(fc_json_root(d)->d, 0.25);
  fc_json_free(d);
  if (old) setlocale(LC_NUMERIC, "C");
}

Test(json, limits) {
  refused("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", &lim, FC_JSON_MALFORMED,
          "nesting deeper than 16 at byte 16");
  fc_json_limits few = {16, 5, 100};
  refused("[1,2,3,4,5]", &few, FC_JSON_TOO_MANY, "more than 5 values at byte 9");
  fc_json_limits kept = {16, 1000, 2};
  fc_json_doc *d = NULL;
  char why[160];
  cr_assert_eq(fc_json_parse("[[1],[2],[3],[4]]", 17, &kept, &d, why, sizeof why), FC_JSON_OK);
  const fc_json *root = fc_json_root(d);
  cr_assert_eq(root->n, 4, "members past the limit are counted");
  int n = 0;
  for (const fc_json *v = fc_json_first(d, root); v; v = fc_json_next(d, v)) n++;
  cr_assert_eq(n, 2, "and not kept");
  fc_json_free(d);
  refused("[1,2,[}]", &kept, FC_JSON_MALFORMED, "expected a value at byte 6");
  refused("{\"a\" 1}", &lim, FC_JSON_MALFORMED, "expected ':' at byte 5");
  refused("{1:2}", &lim, FC_JSON_MALFORMED, "expected a key (a string) at byte 1");
  refused("[1 2]", &lim, FC_JSON_MALFORMED, "expected ',' or ']' at byte 3");
  refused("", &lim, FC_JSON_MALFORMED, "expected a value, not the end of the text at byte 0");
  refused("tru", &lim, FC_JSON_MALFORMED, "expected a value at byte 0");
  d = NULL;
  cr_assert_eq(fc_json_parse("[1]\0", 4, &lim, &d, why, sizeof why), FC_JSON_MALFORMED);
  cr_assert(strstr(why, "a NUL byte at byte 3"), "%s", why);
}
