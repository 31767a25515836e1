/* error_reasons.h — the reasons of the refusals our SQL functions and constraints raise
 * without naming one in their HINT: the table error_reasons (migrations 05x), read once per
 * process from the first connection that can, and matched against a failed statement's
 * message (its format's literal text around the placeholders) or its constraint's name
 * (rows whose fmt is "constraint:<name>"). */
#ifndef GS_ERROR_REASONS_H
#define GS_ERROR_REASONS_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

struct db;

/* Reads the table through d unless it was read already (a database that has no such table
 * yet is asked again on the next connection). */
void error_reasons_load(struct db *d);

/* Sets c's reason and metadata from the row whose format matches `message` or that names
 * `constraint` (may be NULL); false when none does. */
bool error_reasons_apply(call *c, const char *message, const char *constraint);

#endif
