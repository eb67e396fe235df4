/*
 * threads: --threads=N (default 4) threads, each counting in its own slot every --step-ms (10).
 *
 * Verdict: every thread still has the tid it started with (gettid), every thread kept counting
 * after the verdict was asked (so all of them run), and no count went backwards.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64

struct worker {
	pthread_t thread;
	pid_t tid;
	long step_ms;
	_Atomic long count;
	_Atomic int stop;
	char failure[160];
};

static struct worker workers[MAX_THREADS];
static _Atomic int started;

static void *work(void *arg)
{
	struct worker *w = arg;
	long last = -1;

	w->tid = gettid();
	started++;
	while (!w->stop) {
		long c = w->count;

		if (c != last + 1 && !w->failure[0])
			strcpy(w->failure, "count went backwards");
		last = c;
		w->count = c + 1;
		fx_sleep_ms(w->step_ms);
		if (gettid() != w->tid && !w->failure[0])
			strcpy(w->failure, "tid changed");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = (int)fx_opt_long(argc, argv, "threads", 4);
	long step_ms = fx_opt_long(argc, argv, "step-ms", 10);
	long at_ask[MAX_THREADS];

	fx_init("threads");
	if (n < 1 || n > MAX_THREADS)
		fx_fail("bad --threads=%d", n);
	/* the verdict signal goes to the main thread only */
	for (int i = 0; i < n; i++) {
		sigset_t none, usr2;

		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		sigaddset(&usr2, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &usr2, &none);
		workers[i].step_ms = step_ms;
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
			fx_fail("cannot start thread %d", i);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
	}
	while (started < n)
		fx_sleep_ms(1);
	fx_ready();
	fx_wait_verify();
	for (int i = 0; i < n; i++)
		at_ask[i] = workers[i].count;
	fx_sleep_ms(step_ms * 10);
	for (int i = 0; i < n; i++) {
		if (workers[i].count <= at_ask[i])
			fx_note_failure("thread %d (tid %d) stopped counting at %ld", i, workers[i].tid, at_ask[i]);
		workers[i].stop = 1;
	}
	for (int i = 0; i < n; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].failure[0])
			fx_note_failure("thread %d (tid %d): %s", i, workers[i].tid, workers[i].failure);
	}
	fx_finish();
}
