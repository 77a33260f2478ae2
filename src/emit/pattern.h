/* pattern: string.find, string.match, string.gmatch and string.gsub for the template sandbox.
 *
 * Lua's own pattern matcher runs in C, where the sandbox's instruction budget (a count hook)
 * never fires: `string.rep('a', 20000):find('.-.-.-.-.-b')` backtracks for years. These are
 * the same four functions with Lua 5.4's pattern semantics (manual section 6.4.1: classes,
 * sets, quantifiers * + - ?, captures and position captures, %b, %f, back-references,
 * anchors) and the same results and error messages, but every step of the matcher is
 * counted: every few thousand steps, and at the end of each call, the count goes to a charge
 * function, which raises a Lua error when the budget is spent.
 * Caller: emit.c, once per Lua state. */
#ifndef FC_PATTERN_H
#define FC_PATTERN_H

#include <stdint.h>

#include <lua.h>

/* Adds steps to the budget of L's owner; raises a Lua error (does not return) when it is
   spent. Called from inside the string functions, so level 1 is their caller. */
typedef void (*fc_pattern_charge)(lua_State *L, int64_t steps);

/* Replaces find, match, gmatch and gsub in the table at idx (the string library, which is
   also the strings' metatable __index). */
void fc_pattern_install(lua_State *L, int idx, fc_pattern_charge charge);

#endif
