/* thread.h — how the runtime starts its threads (workers, listener, monitor, audit sealer):
 * pthread_create, plus a test hook so that a test can make one named thread fail to start
 * and check that the server then exits cleanly with an error. */
#ifndef GS_THREAD_H
#define GS_THREAD_H

#include <pthread.h>

/* pthread_create(t, NULL, fn, arg); returns its result. When the environment variable
 * GS_TEST_FAIL_THREAD equals `name` (tests only), it creates nothing and returns EAGAIN.
 * Names: "light", "worker", "listener", "monitor", "sealer". */
int gs_thread_start(const char *name, pthread_t *t, void *(*fn)(void *), void *arg);

#endif
