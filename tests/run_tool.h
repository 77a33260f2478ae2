/* run_tool.h: runs one of the project's programs the way a user would, for the CLI tests. */
#ifndef FC_RUN_TOOL_H
#define FC_RUN_TOOL_H

#include <criterion/criterion.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs "<program> ARGS 2>&1" into out and returns its exit status. The program is $env when
   set (a bundle on another machine, where the build tree is not where it was built), else
   built_path. */
static inline int run_tool(const char *env, const char *built_path, const char *args,
                           char *out, size_t len) {
  char cmd[8192];
  const char *bin = getenv(env);
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin ? bin : built_path, args);
  FILE *f = popen(cmd, "r");
  cr_assert(f, "popen %s", cmd);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checks a program's whole output line by line: out must hold exactly the lines of want (a
   NULL-terminated list of fnmatch(3) patterns: '*' matches any text, '[' must be written
   "\\["), in order, and nothing else. what names the command in a failure. */
static inline void expect_lines(const char *what, const char *out, const char *const *want) {
  const char *p = out;
  int i = 0;
  for (; want[i]; i++) {
    cr_assert(*p, "%s: line %d missing, wanted '%s'; the output:\n%s", what, i + 1, want[i], out);
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    char line[4096];
    snprintf(line, sizeof line, "%.*s", (int)n, p);
    cr_assert(fnmatch(want[i], line, 0) == 0,
              "%s: line %d is '%s', wanted '%s'; the output:\n%s", what, i + 1, line, want[i], out);
    p += n + (nl != NULL);
  }
  cr_assert(!*p, "%s: unexpected output after line %d; the output:\n%s", what, i, out);
}

#endif
