/* hidden_nvrtc.h: a loader path without NVRTC, for a child process that must run the way an
   application ships (a driver, no toolkit). GPU tests. */
#ifndef FC_HIDDEN_NVRTC_H
#define FC_HIDDEN_NVRTC_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* dir/libs, a directory of links to every library on LD_LIBRARY_PATH except libnvrtc*, for
   a child whose loader must not find NVRTC there; its path into buf. (A system directory of
   the loader's may still hold NVRTC: the child also gets FFTCONV_NVRTC pointing at nothing.) */
static inline void hidden_path(const char *dir, char *buf, size_t len) {
  char links[300];
  snprintf(links, sizeof links, "%s/libs", dir);
  mkdir(links, 0700);
  const char *lp = getenv("LD_LIBRARY_PATH");
  char *copy = strdup(lp ? lp : "");
  for (char *d = strtok(copy, ":"); d; d = strtok(NULL, ":")) {
    DIR *dh = opendir(d);
    if (!dh) continue;
    for (struct dirent *de; (de = readdir(dh));) {
      if (de->d_name[0] == '.' || !strncmp(de->d_name, "libnvrtc", 8)) continue;
      char from[4096], to[4096];
      snprintf(from, sizeof from, "%s/%s", d, de->d_name);
      snprintf(to, sizeof to, "%s/%s", links, de->d_name);
      if (symlink(from, to) != 0) { /* the first directory that has it wins, as for ld.so */
      }
    }
    closedir(dh);
  }
  free(copy);
  snprintf(buf, len, "%s", links);
}

#endif
