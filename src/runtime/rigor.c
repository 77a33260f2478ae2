/* rigor: the names of rigors and result statuses. */
#include "rigor.h"

#include <string.h>

/* Indexed by the enums: the order of the names is the order of the values. */
static const char *const rigor_names[FC_RIGOR_COUNT] = {"estimate", "sample", "measure",
                                                        "exhaustive"};
static const char *const status_names[FC_RESULT_STATUS_COUNT] = {
    "pending", "compiled", "ok", "compile-failed", "verify-failed", "launch-failed",
    "cached", "not-run", "screened"};

const char *fc_rigor_name(fc_rigor r) {
  return (unsigned)r < FC_RIGOR_COUNT ? rigor_names[r] : "?";
}

int fc_rigor_parse(const char *s, fc_rigor *out) {
  for (int i = 0; s && i < FC_RIGOR_COUNT; i++)
    if (!strcmp(s, rigor_names[i])) {
      if (out) *out = (fc_rigor)i;
      return 1;
    }
  return 0;
}

const char *fc_result_status_name(fc_result_status s) {
  return (unsigned)s < FC_RESULT_STATUS_COUNT ? status_names[s] : "?";
}

int fc_result_status_measured(fc_result_status s) {
  return s == FC_RESULT_OK || s == FC_RESULT_COMPILE_FAILED || s == FC_RESULT_VERIFY_FAILED ||
         s == FC_RESULT_LAUNCH_FAILED;
}
