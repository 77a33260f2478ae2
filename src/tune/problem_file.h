/* problem_file: problems written as the tuner's flags (--seqlen 4096 --batch 8 --dtype fp16
 * --mode circular --pregate ...), one a line in a problem-set file. fftconv-tune reads its
 * --problems FILE with it and fftconv-cache export its own, so that one file serves both.
 * Tuning side of the library. */
#ifndef FC_PROBLEM_FILE_H
#define FC_PROBLEM_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fftconv.h"
#include "util.h"

/* A problem as a line without a flag starts: each field's flag default (fields.c): B=8,
   H=64, fp16, causal, no gates, seqlen 0 (which must be given). */
void fc_problem_defaults(fftconv_problem *p);

/* Whether --name is a problem flag: 1 it takes a value, 0 it does not, -1 not one. The
   problem flags are the field table's (fields.c): seqlen batch heads filter-len freq-keep
   dtype mode (values), pregate postgate skip-d. */
int fc_problem_flag_arg(const char *name);

/* The problem flags' help lines, one a flag, from the field table (fields.c), in the form
   of fftconv-tune --help: "  --seqlen L          sequence length\n". Appended to b. */
void fc_problem_flags_help(fc_str *b);

/* Applies --name [arg] to p. Returns 1 applied, 0 name is not a problem flag, -1 a bad value:
   msg then says so, e.g. "--dtype: 'fp8' is not one of fp32, fp16, bf16". */
int fc_problem_flag(fftconv_problem *p, const char *name, const char *arg, char *msg,
                    size_t len);

/* What a problem-set file may hold, checked before anything is allocated for it: a reader
   of hostile input must not be made to ask for memory by a size it was told. The default set
   is 32 lines of under 90 bytes; these are far beyond any real set. */
#define FC_PROBLEM_FILE_MAX_BYTES (16 << 20) /* the whole file, 16 MiB */
#define FC_PROBLEM_LINE_MAX 65536            /* bytes of one line, its comment included */
#define FC_PROBLEM_FILE_MAX_PROBLEMS 100000

/* Parses a problem set from memory: text[0 .. len) (NUL bytes included: they are an error,
   not an end), name standing for the file in messages. One problem a line in flag form, '#'
   to the end of a line a comment, blank lines skipped, lines ended by LF or CRLF; a UTF-8
   byte-order mark at the very start is skipped (editors on Windows write one). *out is
   malloc'd (NULL and *n = 0 on failure). Every failure names the line
   ("NAME:LINE: '--x' is not a problem flag", "NAME:LINE: holds a NUL byte",
   "NAME:LINE: is 70000 bytes long; a line may have at most 65536") and is
   FFTCONV_ERR_INVALID (so is a text of more than FC_PROBLEM_FILE_MAX_BYTES), but
   "NAME holds no problem" (FFTCONV_ERR_IO) and FFTCONV_ERR_NOMEM. The whole input
   is the one argument a fuzz target needs. */
fftconv_status fc_problem_file_parse(const char *text, size_t len, const char *name,
                                     fftconv_problem **out, int *n, fc_err *e);

/* Reads a problem-set file with fc_problem_file_parse. Only a regular file (a symbolic link
   to one is followed: the path is the user's own) is opened, and it is fstat'ed before a
   byte is read, so that a FIFO, a device or a directory is refused at once, never waited
   on: "--problems PATH: is a FIFO, not a problem-set file". A file of more
   than FC_PROBLEM_FILE_MAX_BYTES is refused before it is read (and one that grows past it
   while read). FFTCONV_ERR_IO when the file cannot be opened or read ("--problems PATH: No
   such file or directory"), is not a regular file, is too large or holds no problem;
   FFTCONV_ERR_INVALID for a bad line; FFTCONV_ERR_NOMEM. The tools take every failure but
   FFTCONV_ERR_NOMEM as bad input (exit status 2). */
fftconv_status fc_problem_file_read(const char *path, fftconv_problem **out, int *n, fc_err *e);

#endif
