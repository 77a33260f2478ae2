/* tree.h: removes a test's scratch directory, whatever a test left in it. */
#ifndef FC_TEST_TREE_H
#define FC_TEST_TREE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes path and, if it is a directory (not a link to one), everything in it. A link is
   removed, never followed: tests plant links to places outside their directory. Directories
   made unreadable or unwritable by a test are opened up first. */
static inline void rm_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return;
  if (!S_ISDIR(sb.st_mode)) {
    unlink(path);
    return;
  }
  chmod(path, 0700);
  DIR *d = opendir(path);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) < (int)sizeof p) rm_tree(p);
  }
  if (d) closedir(d);
  rmdir(path);
}

#endif
