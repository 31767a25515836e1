/* thread.c — the runtime's one way to start a thread (see thread.h): pthread_create with a
 * test hook that makes a named thread fail to start. */
#include "thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int gs_thread_start(const char *name, pthread_t *t, void *(*fn)(void *), void *arg)
{
    const char *fail = getenv("GS_TEST_FAIL_THREAD");
    if (fail && name && strcmp(fail, name) == 0)
        return EAGAIN;
    return pthread_create(t, NULL, fn, arg);
}
