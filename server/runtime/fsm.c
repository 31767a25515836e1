/* fsm.c — state machines declared as data (fsm.h): names, moves, the refusal. */
#include "fsm.h"

#include <string.h>

const char *fsm_name(const fsm *m, int state)
{
    return state >= 0 && state < m->n_states ? m->state_names[state] : "unknown";
}

int fsm_state(const fsm *m, const char *name)
{
    for (int i = 0; name && i < m->n_states; i++)
        if (strcmp(name, m->state_names[i]) == 0)
            return i;
    return -1;
}

bool fsm_can(const fsm *m, int from, int to)
{
    for (size_t i = 0; i < m->n_moves; i++)
        if (m->moves[i].from == from && m->moves[i].to == to)
            return true;
    return false;
}

gs_code fsm_check(call *c, const fsm *m, int from, int to, const char *object, const char *refusal)
{
    if (fsm_can(m, from, to))
        return GS_OK;
    return call_fail(c, GS_FAILED_PRECONDITION, "%s %s is %s: %s", m->what, object,
                     fsm_name(m, from), refusal);
}
