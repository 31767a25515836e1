/* fsm.h — a state machine declared as data: state names and the table of legal moves.
 * Requisitions, purchase orders and disbursements each declare one (their enum indexes
 * state_names) and mirror its moves in an SQL transition table that a trigger enforces,
 * so the database refuses whatever the table refuses; this helper answers the question
 * "may it move?" before any statement runs, with the same FAILED_PRECONDITION for all. */
#ifndef GS_FSM_H
#define GS_FSM_H

#include <stdbool.h>
#include <stddef.h>

#include "call.h"

typedef struct fsm_move {
    int from, to;
} fsm_move;

typedef struct fsm {
    const char *what;               /* the object, for messages: "purchase order" */
    const char *const *state_names; /* n_states of them, indexed by state */
    int n_states;
    const fsm_move *moves;
    size_t n_moves;
} fsm;

/* The name of a state; "unknown" when out of range. */
const char *fsm_name(const fsm *m, int state);
/* The state named `name`; -1 when none (or name is NULL). */
int fsm_state(const fsm *m, const char *name);
/* Is from → to one of the moves? */
bool fsm_can(const fsm *m, int from, int to);
/* GS_OK when from → to is a move; otherwise fails the call with FAILED_PRECONDITION
 * "<what> <object> is <from>: <refusal>", e.g. "requisition R-1 is draft: it cannot
 * become approved". */
gs_code fsm_check(call *c, const fsm *m, int from, int to, const char *object, const char *refusal);

#endif
