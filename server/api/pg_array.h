/* pg_array.h — PostgreSQL array literals ("{1,2}", "{\"a\",\"b\"}") for passing a list as
 * one text parameter of db_exec (cast in SQL: $1::bigint[]). One family, one argument
 * order: (call, values, count). The literal lives in the call's arena. */
#ifndef GS_PG_ARRAY_H
#define GS_PG_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"

/* bigint[]: "{1,-2,3}". */
const char *pg_array_i64(call *c, const int64_t *v, size_t n);
/* text[]: every element double-quoted with '"' and '\' escaped; a NULL element is "". */
const char *pg_array_text(call *c, const char *const *v, size_t n);
/* boolean[]: "{t,f}". */
const char *pg_array_bool(call *c, const bool *v, size_t n);
/* numeric[] with two decimals: "{12.50,0.00}" (finite values). */
const char *pg_array_num2(call *c, const double *v, size_t n);

#endif
