/* policy: the names of rigors. */
#include "policy.h"

#include <string.h>

/* Indexed by the enum: the order of the names is the order of the values. */
static const char *const rigor_names[FC_RIGOR_COUNT] = {"estimate", "sample", "measure",
                                                        "exhaustive"};

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
