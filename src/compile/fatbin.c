/* fatbin: fat binaries through nvFatbin, or the toolkit's fatbinary where it is missing (see
 * fatbin.h). */
#include "fatbin.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* nvFatbin's C API, as nvFatbin.h declares it (the header is not needed to build). */
typedef struct fatbin_handle *fatbin_h;
typedef struct fatbin_api {
  const char *(*GetErrorString)(int);
  int (*Create)(fatbin_h *, const char **, size_t);
  int (*Destroy)(fatbin_h *);
  int (*AddPTX)(fatbin_h, const char *, size_t, const char *, const char *, const char *);
  int (*AddCubin)(fatbin_h, const void *, size_t, const char *, const char *);
  int (*Size)(fatbin_h, size_t *);
  int (*Get)(fatbin_h, void *);
  int (*Version)(unsigned *, unsigned *);
} fatbin_api;

static const struct {
  const char *name;
  size_t offset;
} fatbin_syms[] = {
    {"nvFatbinGetErrorString", offsetof(fatbin_api, GetErrorString)},
    {"nvFatbinCreate", offsetof(fatbin_api, Create)},
    {"nvFatbinDestroy", offsetof(fatbin_api, Destroy)},
    {"nvFatbinAddPTX", offsetof(fatbin_api, AddPTX)},
    {"nvFatbinAddCubin", offsetof(fatbin_api, AddCubin)},
    {"nvFatbinSize", offsetof(fatbin_api, Size)},
    {"nvFatbinGet", offsetof(fatbin_api, Get)},
    {"nvFatbinVersion", offsetof(fatbin_api, Version)},
};

/* Written inside pthread_once, read only after it. */
static fatbin_api fb;
static int fb_loaded;
static char fb_desc[1024];     /* the library found, or why none was */
static char fb_program[4096];  /* the fatbinary program, "" when none */
static pthread_once_t fb_once = PTHREAD_ONCE_INIT;

static int is_executable(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

static void find_program(void) {
  const char *env = getenv("FFTCONV_FATBINARY");
  if (env && env[0]) {
    if (is_executable(env)) snprintf(fb_program, sizeof fb_program, "%s", env);
    return;
  }
#ifdef FFTCONV_FATBINARY
  if (is_executable(FFTCONV_FATBINARY)) {
    snprintf(fb_program, sizeof fb_program, "%s", FFTCONV_FATBINARY);
    return;
  }
#endif
  const char *path = getenv("PATH");
  char *copy = path ? strdup(path) : NULL;
  for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
       d = strtok_r(NULL, ":", &save)) {
    char p[4096];
    snprintf(p, sizeof p, "%s/fatbinary", d);
    if (is_executable(p)) {
      snprintf(fb_program, sizeof fb_program, "%s", p);
      break;
    }
  }
  free(copy);
}

static void fb_load_once(void) {
  find_program();
  const char *env = getenv("FFTCONV_NVFATBIN");
  const char *names[2];
  int n = 0;
  if (env && env[0]) {
    if (strcmp(env, "none")) names[n++] = env;
  } else {
    names[n++] = "libnvfatbin.so.13";
#ifdef FFTCONV_NVFATBIN_DIR
    names[n++] = FFTCONV_NVFATBIN_DIR "/libnvfatbin.so.13";
#endif
  }
  void *lib = NULL;
  char why[512] = "FFTCONV_NVFATBIN=none";
  const char *got = NULL;
  for (int i = 0; i < n && !lib; i++) {
    lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib) got = names[i];
    else if (i == 0) snprintf(why, sizeof why, "%s", dlerror());
  }
  if (!lib) {
    snprintf(fb_desc, sizeof fb_desc, "no nvFatbin: %s", why);
    return;
  }
  fatbin_api api;
  for (size_t i = 0; i < sizeof fatbin_syms / sizeof fatbin_syms[0]; i++) {
    void *f = dlsym(lib, fatbin_syms[i].name);
    if (!f) {
      snprintf(fb_desc, sizeof fb_desc, "no nvFatbin: %s has no symbol %s", got,
               fatbin_syms[i].name);
      dlclose(lib);
      return;
    }
    memcpy((char *)&api + fatbin_syms[i].offset, &f, sizeof f);
  }
  fb = api;
  unsigned ma = 0, mi = 0;
  fb.Version(&ma, &mi);
  snprintf(fb_desc, sizeof fb_desc, "nvFatbin %u.%u (%s)", ma, mi, got);
  fb_loaded = 1;
}

int fc_fatbin_backend(char *buf, size_t len) {
  pthread_once(&fb_once, fb_load_once);
  if (fb_loaded) snprintf(buf, len, "%s", fb_desc);
  else if (fb_program[0]) snprintf(buf, len, "fatbinary (%s; %s)", fb_program, fb_desc);
  else
    snprintf(buf, len, "neither nvFatbin nor fatbinary: %s; no fatbinary program (looked at "
             "$FFTCONV_FATBINARY, the toolkit's bin and PATH)", fb_desc);
  return fb_loaded || fb_program[0];
}

/* "sm_90a" -> "90a": nvFatbin's and fatbinary's form. */
static const char *arch_number(const char *arch) {
  return strncmp(arch, "sm_", 3) == 0 ? arch + 3 : arch;
}

static fftconv_status build_nvfatbin(const fc_fatbin_image *im, int n, int compress_cubins,
                                     void **out, size_t *size, fc_err *e) {
  fatbin_h h = NULL;
  const char *opts[] = {"-64", "-host=linux", "-compress=true", "-compress-all"};
  int r = fb.Create(&h, opts, compress_cubins ? 4 : 3);
  for (int i = 0; r == 0 && i < n; i++) {
    if (im[i].ptx) {
      /* nvFatbin wants the text's size including its NUL */
      char *txt = malloc(im[i].size + 1);
      if (!txt) {
        fb.Destroy(&h);
        return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      }
      memcpy(txt, im[i].data, im[i].size);
      txt[im[i].size] = 0;
      r = fb.AddPTX(h, txt, im[i].size + 1, arch_number(im[i].arch), im[i].ident, "");
      free(txt);
    } else {
      r = fb.AddCubin(h, im[i].data, im[i].size, arch_number(im[i].arch), im[i].ident);
    }
    if (r) {
      fftconv_status st = fc_fail(e, FFTCONV_ERR_IO, "nvFatbin refused the %s of %s for %s: %s",
                                  im[i].ptx ? "PTX" : "cubin", im[i].ident, im[i].arch,
                                  fb.GetErrorString(r));
      fb.Destroy(&h);
      return st;
    }
  }
  size_t sz = 0;
  if (r == 0) r = fb.Size(h, &sz);
  void *buf = r == 0 ? malloc(sz ? sz : 1) : NULL;
  if (r == 0 && !buf) {
    fb.Destroy(&h);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory for a %zu-byte fatbin", sz);
  }
  if (r == 0) r = fb.Get(h, buf);
  if (h) fb.Destroy(&h);
  if (r) {
    free(buf);
    return fc_fail(e, FFTCONV_ERR_IO, "nvFatbin: %s", fb.GetErrorString(r));
  }
  *out = buf;
  *size = sz;
  return FFTCONV_OK;
}

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(data, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

static void *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fc_str b = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) fc_str_addn(&b, chunk, got);
  fclose(f);
  if (b.oom || !b.s) {
    fc_str_free(&b);
    return NULL;
  }
  *n = b.len;
  return b.s;
}

static void remove_tree(const char *dir, int n) {
  char p[4200];
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/i%d", dir, i);
    unlink(p);
  }
  snprintf(p, sizeof p, "%s/out.fatbin", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/log", dir);
  unlink(p);
  rmdir(dir);
}

/* The fatbinary program, run in a private directory with the images as files there: the
   file names are the identifiers it records, so they are the same on every run. */
static fftconv_status build_program(const fc_fatbin_image *im, int n, int compress_cubins,
                                    void **out, size_t *size, fc_err *e) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/fftconv-fatbin-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(dir))
    return fc_fail(e, FFTCONV_ERR_IO, "fatbinary: cannot make a directory %s: %s", dir,
                   strerror(errno));
  char **argv = calloc((size_t)n + 8, sizeof *argv);
  char *specs = calloc((size_t)n, 128);
  fftconv_status st = FFTCONV_OK;
  if (!argv || !specs) st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  int a = 0;
  if (st == FFTCONV_OK) {
    argv[a++] = fb_program;
    argv[a++] = "--64";
    argv[a++] = "--create=out.fatbin";
    argv[a++] = compress_cubins ? "--compress-all" : "--compress=true";
  }
  for (int i = 0; st == FFTCONV_OK && i < n; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/i%d", dir, i);
    if (!write_file(p, im[i].data, im[i].size)) {
      st = fc_fail(e, FFTCONV_ERR_IO, "fatbinary: cannot write %s: %s", p, strerror(errno));
      break;
    }
    char *s = specs + (size_t)i * 128;
    snprintf(s, 128, "--image3=kind=%s,sm=%s,file=i%d", im[i].ptx ? "ptx" : "elf",
             arch_number(im[i].arch), i);
    argv[a++] = s;
  }
  if (st == FFTCONV_OK) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 1, "log", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int r = posix_spawn(&pid, fb_program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int ws = 0;
    if (r) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cannot run %s: %s", fb_program, strerror(r));
    } else if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws)) {
      char p[4200];
      size_t ln = 0;
      snprintf(p, sizeof p, "%s/log", dir);
      char *log = read_file(p, &ln);
      st = fc_fail(e, FFTCONV_ERR_IO, "%s failed (status %d): %.*s", fb_program,
                   WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, log ? (int)ln : 0, log ? log : "");
      free(log);
    } else {
      char p[4200];
      snprintf(p, sizeof p, "%s/out.fatbin", dir);
      if (!(*out = read_file(p, size)))
        st = fc_fail(e, FFTCONV_ERR_IO, "fatbinary wrote no readable %s", p);
    }
  }
  free(argv);
  free(specs);
  remove_tree(dir, n);
  return st;
}

fftconv_status fc_fatbin_build(const fc_fatbin_image *im, int n, int compress_cubins,
                               void **out, size_t *size, fc_err *e) {
  *out = NULL;
  *size = 0;
  if (n <= 0) return fc_fail(e, FFTCONV_ERR_INVALID, "fatbin: no images");
  char how[2048];
  if (!fc_fatbin_backend(how, sizeof how))
    return fc_fail(e, FFTCONV_ERR_NO_COMPILER, "cannot build a fatbin: %s", how);
  return fb_loaded ? build_nvfatbin(im, n, compress_cubins, out, size, e)
                   : build_program(im, n, compress_cubins, out, size, e);
}
