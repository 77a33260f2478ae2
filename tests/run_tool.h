/* run_tool.h: runs one of the project's programs the way a user would, for the CLI tests. */
#ifndef FC_RUN_TOOL_H
#define FC_RUN_TOOL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Runs "<program> ARGS 2>&1" into out and returns its exit status. The program is $env when
   set (a bundle on another machine, where the build tree is not where it was built), else
   built_path. */
static inline int run_tool(const char *env, const char *built_path, const char *args,
                           char *out, size_t len) {
  char cmd[2048];
  const char *bin = getenv(env);
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : built_path, args);
  FILE *f = popen(cmd, "r");
  cr_assert(f, "popen %s", cmd);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
