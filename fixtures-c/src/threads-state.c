/*
 * threads-state: threads each in its own state, each checking itself after the restore.
 *
 * --states=STRING  one letter per thread (the main thread is not one of them):
 *   c  counts in a __thread variable, with its own signal mask, its own sigaltstack and a signal sent to it
 *      with pthread_kill before the dump, blocked there: at the verdict it unblocks it, and the handler must
 *      run in that same thread, on its altstack
 *   v  waits on a condition variable
 *   n  sleeps in nanosleep (EINTR after a restore is allowed, any other error is not)
 *   r  blocks in read on a pipe; at the verdict the main thread writes one message per reader, each of
 *      which must read one whole
 *   s  spins in user code, no syscall; it must go on spinning after the restore
 *   m  holds a robust mutex; at the verdict it exits holding it and the main thread's lock must get EOWNERDEAD
 *   a  counts inside a signal handler that runs on its altstack (sigaltstack reports SS_ONSTACK there); at the
 *      verdict the handler checks that, returns, and the altstack must be as it was, no longer in use
 *   d  counts with an altstack set with SS_AUTODISARM, which sigaltstack must still report after the restore
 *   u  waits in sigsuspend with a temporary mask (every signal blocked but the wake-up one) unlike its own (which
 *      blocks the wake-up signal and one of its own): the kernel keeps its own mask aside meanwhile, and that is
 *      the mask it must have again once sigsuspend returns, after the restore too (EINTR is allowed)
 * --threads=N      without --states: N threads, c v n r in turn, the fifth s, the sixth m
 * --seed=S         with --threads: the letters drawn from S instead (of c v n r s m)
 * At most two threads spin and one holds the robust mutex (the others count instead).
 *
 * Every thread also checks that its tid (gettid) and its name ("KIND-INDEX", comm) are the ones it started with, and the main thread checks that
 * /proc/self/task lists exactly the tids it started with.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define ALTSTACK_SIZE (16 * 1024)
#define MESSAGE "through the pipe, whole"

struct worker {
	int index;
	char kind;
	pthread_t thread;
	pid_t tid;
	void *altstack;
	int own_signal; /* blocked in this thread only, besides the pending one */
	_Atomic long progress;
	_Atomic int handled; /* the pending signal's handler ran in this thread, on its altstack */
	char failure[200];
};

static struct worker workers[MAX_THREADS];
static int nworkers;
static _Atomic int started;
static _Atomic int verdict; /* the main thread asks every thread to check itself and end */
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static pthread_mutex_t robust;
static _Atomic int robust_held;
static int readers_pipe[2]; /* one pipe for every reader: each message is written whole (under PIPE_BUF) */
static __thread long tls_count;
static __thread struct worker *self;

#define PENDING_SIGNAL (SIGRTMIN + 1)
#define WAKE_SIGNAL (SIGRTMIN + 2)
#define ALT_SIGNAL (SIGRTMIN + 14)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

static void note(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
	va_end(ap);
}

static void on_pending(int sig)
{
	char here;
	struct worker *w = self;

	(void)sig;
	if (!w)
		return;
	if (gettid() != w->tid)
		return;
	if ((char *)&here < (char *)w->altstack || (char *)&here >= (char *)w->altstack + ALTSTACK_SIZE)
		return;
	w->handled = 1;
}

static void on_wake(int sig)
{
	(void)sig;
}

static void check_tid(struct worker *w)
{
	char name[16] = "", want[16];

	if (gettid() != w->tid)
		note(w, "tid changed from %d to %d", w->tid, gettid());
	snprintf(want, sizeof(want), "%c-%d", w->kind, w->index);
	prctl(PR_GET_NAME, name);
	if (strcmp(name, want) != 0)
		note(w, "its name is \"%s\", not \"%s\"", name, want);
}

static void counting(struct worker *w)
{
	stack_t ss = { .ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 }, now;
	sigset_t mask, cur, unblock;

	if (sigaltstack(&ss, NULL) != 0)
		note(w, "sigaltstack: %s", strerror(errno));
	sigemptyset(&mask);
	sigaddset(&mask, PENDING_SIGNAL);
	sigaddset(&mask, w->own_signal);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	started++;
	while (!verdict) {
		tls_count++;
		if (tls_count != w->progress + 1)
			note(w, "__thread count %ld, shared copy %ld", tls_count, (long)w->progress);
		w->progress = tls_count;
		fx_sleep_ms(20);
	}
	check_tid(w);
	if (tls_count != w->progress)
		note(w, "__thread count %ld, shared copy %ld", tls_count, (long)w->progress);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	if (!sigismember(&cur, PENDING_SIGNAL) || !sigismember(&cur, w->own_signal))
		note(w, "its signal mask lost signal %d or %d", PENDING_SIGNAL, w->own_signal);
	for (int s = SIGRTMIN + 3; s < SIGRTMIN + 13; s++)
		if (s != w->own_signal && sigismember(&cur, s))
			note(w, "its signal mask gained signal %d (another thread's)", s);
	if (sigaltstack(NULL, &now) != 0 || now.ss_sp != w->altstack || now.ss_size != ALTSTACK_SIZE)
		note(w, "its altstack is %p+%zu, not %p+%d", now.ss_sp, now.ss_size, w->altstack, ALTSTACK_SIZE);
	sigpending(&cur);
	if (!sigismember(&cur, PENDING_SIGNAL))
		note(w, "signal %d sent to it is no longer pending", PENDING_SIGNAL);
	sigemptyset(&unblock);
	sigaddset(&unblock, PENDING_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
	if (!w->handled)
		note(w, "signal %d pending for it did not reach it on its altstack", PENDING_SIGNAL);
}

/* 'a': the handler the thread sits in, on its altstack, until the verdict */
static void on_alt(int sig)
{
	char here;
	struct worker *w = self;
	stack_t now;

	(void)sig;
	if (!w)
		return;
	if ((char *)&here < (char *)w->altstack || (char *)&here >= (char *)w->altstack + ALTSTACK_SIZE)
		note(w, "its handler does not run on its altstack");
	started++;
	while (!verdict) {
		w->progress++;
		fx_sleep_ms(20);
	}
	if (sigaltstack(NULL, &now) != 0 || now.ss_sp != w->altstack || now.ss_size != ALTSTACK_SIZE
	    || now.ss_flags != SS_ONSTACK)
		note(w, "in its handler its altstack is %p+%zu flags %#x, not %p+%d SS_ONSTACK", now.ss_sp,
		     now.ss_size, (unsigned)now.ss_flags, w->altstack, ALTSTACK_SIZE);
	w->handled = 1;
}

static void in_handler(struct worker *w)
{
	stack_t ss = { .ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 }, now;

	if (sigaltstack(&ss, NULL) != 0)
		note(w, "sigaltstack: %s", strerror(errno));
	pthread_kill(pthread_self(), ALT_SIGNAL); /* on_alt runs now, and returns at the verdict */
	check_tid(w);
	if (!w->handled)
		note(w, "its handler did not run to its end");
	if (sigaltstack(NULL, &now) != 0 || now.ss_sp != w->altstack || now.ss_size != ALTSTACK_SIZE || now.ss_flags != 0)
		note(w, "after its handler its altstack is %p+%zu flags %#x", now.ss_sp, now.ss_size,
		     (unsigned)now.ss_flags);
}

static void disarming(struct worker *w)
{
	stack_t ss = { .ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = SS_AUTODISARM }, now;

	if (sigaltstack(&ss, NULL) != 0)
		note(w, "sigaltstack(SS_AUTODISARM): %s", strerror(errno));
	started++;
	while (!verdict) {
		w->progress++;
		fx_sleep_ms(20);
	}
	check_tid(w);
	if (sigaltstack(NULL, &now) != 0 || now.ss_sp != w->altstack || now.ss_size != ALTSTACK_SIZE
	    || (unsigned)now.ss_flags != SS_AUTODISARM)
		note(w, "its altstack is %p+%zu flags %#x, not %p+%d SS_AUTODISARM", now.ss_sp, now.ss_size,
		     (unsigned)now.ss_flags, w->altstack, ALTSTACK_SIZE);
}

static void condvar(struct worker *w)
{
	pthread_mutex_lock(&cond_lock);
	started++;
	while (!cond_flag) {
		int r = pthread_cond_wait(&cond, &cond_lock);
		if (r != 0)
			note(w, "pthread_cond_wait: %s", strerror(r));
		w->progress++;
	}
	pthread_mutex_unlock(&cond_lock);
	check_tid(w);
}

static void sleeping(struct worker *w)
{
	started++;
	while (!verdict) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
		if (nanosleep(&ts, &ts) != 0 && errno != EINTR)
			note(w, "nanosleep: %s (errno %d)", strerror(errno), errno);
		w->progress++;
	}
	check_tid(w);
}

static void reading(struct worker *w)
{
	char buf[64];
	size_t got = 0;

	started++;
	while (got < strlen(MESSAGE)) {
		ssize_t n = read(readers_pipe[0], buf + got, strlen(MESSAGE) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			note(w, "read: %s (errno %d)", n < 0 ? strerror(errno) : "end of file", n < 0 ? errno : 0);
			break;
		}
		got += n;
	}
	buf[got] = 0;
	if (strcmp(buf, MESSAGE) != 0)
		note(w, "read \"%s\" from its pipe", buf);
	check_tid(w);
}

static void suspended(struct worker *w)
{
	sigset_t own, during, now;

	sigemptyset(&own);
	sigaddset(&own, WAKE_SIGNAL); /* only sigsuspend lets it in: no wake-up is lost before the call */
	sigaddset(&own, w->own_signal);
	pthread_sigmask(SIG_BLOCK, &own, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &own);
	sigfillset(&during);
	sigdelset(&during, WAKE_SIGNAL);
	started++;
	while (!verdict) {
		sigsuspend(&during); /* returns -1 EINTR, its handler run */
		w->progress++;
	}
	check_tid(w);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (int s = 1; s < SIGRTMAX; s++)
		if (sigismember(&now, s) != sigismember(&own, s)) {
			note(w, "after sigsuspend its mask %s signal %d", sigismember(&now, s) ? "blocks" : "lets in", s);
			break;
		}
}

static void spinning(struct worker *w)
{
	started++;
	while (!verdict)
		w->progress++;
	check_tid(w);
}

static void holding(struct worker *w)
{
	int r = pthread_mutex_lock(&robust);

	if (r != 0)
		note(w, "locking the robust mutex: %s", strerror(r));
	robust_held = 1;
	started++;
	while (!verdict)
		fx_sleep_ms(5);
	check_tid(w);
	/* ends holding it: the kernel walks this thread's robust list and marks the owner dead */
}

static void *work(void *arg)
{
	struct worker *w = arg;
	sigset_t verdict_signals;

	char name[16];

	self = w;
	w->tid = gettid();
	snprintf(name, sizeof(name), "%c-%d", w->kind, w->index);
	prctl(PR_SET_NAME, name); /* each thread's own comm, checked after the restore */
	/* the harness's signals go to the main thread only */
	sigemptyset(&verdict_signals);
	sigaddset(&verdict_signals, SIGUSR1);
	sigaddset(&verdict_signals, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &verdict_signals, NULL);
	switch (w->kind) {
	case 'c': counting(w); break;
	case 'v': condvar(w); break;
	case 'n': sleeping(w); break;
	case 'r': reading(w); break;
	case 's': spinning(w); break;
	case 'm': holding(w); break;
	case 'a': in_handler(w); break;
	case 'd': disarming(w); break;
	case 'u': suspended(w); break;
	}
	return NULL;
}

static int task_matches(char *why, size_t len)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int listed = 0;

	if (!d) {
		snprintf(why, len, "cannot list /proc/self/task");
		return 0;
	}
	while ((e = readdir(d))) {
		int tid = atoi(e->d_name), known = tid == getpid();
		if (tid <= 0)
			continue;
		listed++;
		for (int i = 0; i < nworkers && !known; i++)
			known = workers[i].tid == tid;
		if (!known) {
			snprintf(why, len, "/proc/self/task lists %d, a tid it never had", tid);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	if (listed != nworkers + 1) {
		snprintf(why, len, "/proc/self/task lists %d threads, not %d", listed, nworkers + 1);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *states = fx_opt_str(argc, argv, "states", NULL);
	long n = fx_opt_long(argc, argv, "threads", 6);
	unsigned long long seed = (unsigned long long)fx_opt_long(argc, argv, "seed", 0);
	static const char kinds[] = "cvnrsmadu"; /* the first six drawn by --seed */
	struct sigaction sa;
	pthread_mutexattr_t ma;
	pthread_attr_t attr;
	long at_ask[MAX_THREADS];
	char why[200];
	int has_robust = 0, spinners = 0;

	fx_init("threads-state");
	if (states)
		n = (long)strlen(states);
	if (n < 0 || n > MAX_THREADS)
		fx_fail("bad thread count %ld", n);
	nworkers = (int)n;
	for (int i = 0; i < nworkers; i++) {
		workers[i].index = i;
		workers[i].kind = states ? states[i] : seed ? kinds[fx_rand(&seed) % 6] : i == 4 ? 's' : i == 5 ? 'm' : kinds[i % 4];
		if (!strchr(kinds, workers[i].kind))
			fx_fail("unknown thread state '%c'", workers[i].kind);
		if (workers[i].kind == 'm') {
			if (has_robust)
				workers[i].kind = 'c'; /* one holder of the one robust mutex */
			has_robust = 1;
		}
		if (workers[i].kind == 's' && ++spinners > 2)
			workers[i].kind = 'c'; /* two spinners show it; more would only take the machine's cores */
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_pending;
	sa.sa_flags = SA_ONSTACK;
	sigaction(PENDING_SIGNAL, &sa, NULL);
	sa.sa_handler = on_wake;
	sa.sa_flags = 0; /* no SA_RESTART: the sleeper's nanosleep returns EINTR */
	sigaction(WAKE_SIGNAL, &sa, NULL);
	sa.sa_handler = on_alt;
	sa.sa_flags = SA_ONSTACK;
	sigaction(ALT_SIGNAL, &sa, NULL);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &ma);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pipe(readers_pipe) != 0)
		fx_fail("pipe: %s", strerror(errno));

	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		w->own_signal = SIGRTMIN + 3 + i % 10;
		if (strchr("cad", w->kind) && !(w->altstack = malloc(ALTSTACK_SIZE)))
			fx_fail("out of memory");
		int r = pthread_create(&w->thread, &attr, work, w);
		if (r != 0)
			fx_fail("cannot start thread %d: %s", i, strerror(r));
	}
	while (started < nworkers)
		fx_sleep_ms(1);
	for (int i = 0; i < nworkers; i++)
		if (workers[i].kind == 'c')
			pthread_kill(workers[i].thread, PENDING_SIGNAL);
	fx_ready();
	fx_wait_verify();

	if (!task_matches(why, sizeof(why)))
		fx_note_failure("%s", why);
	for (int i = 0; i < nworkers; i++)
		at_ask[i] = workers[i].progress;
	/* the counters and the spinners must go on */
	for (int tries = 0; tries < 2000; tries++) {
		int all = 1;
		for (int i = 0; i < nworkers; i++)
			if (strchr("csad", workers[i].kind) && workers[i].progress <= at_ask[i])
				all = 0;
		if (all)
			break;
		fx_sleep_ms(5);
	}
	for (int i = 0; i < nworkers; i++)
		if (strchr("csad", workers[i].kind) && workers[i].progress <= at_ask[i])
			fx_note_failure("thread %d (tid %d, '%c') stopped at %ld", i, workers[i].tid, workers[i].kind,
					at_ask[i]);
	verdict = 1;
	pthread_mutex_lock(&cond_lock);
	cond_flag = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&cond_lock);
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		if (w->kind == 'r' && write(readers_pipe[1], MESSAGE, strlen(MESSAGE)) != (ssize_t)strlen(MESSAGE))
			fx_note_failure("writing thread %d's message to the pipe: %s", i, strerror(errno));
		if (w->kind == 'n' || w->kind == 'u')
			pthread_kill(w->thread, WAKE_SIGNAL);
	}
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->thread, NULL);
		if (w->failure[0])
			fx_note_failure("thread %d (tid %d, '%c'): %s", i, w->tid, w->kind, w->failure);
	}
	if (has_robust) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		int r = pthread_mutex_timedlock(&robust, &until);
		if (r != EOWNERDEAD)
			fx_note_failure("the robust mutex its holder died with: lock gave %s, not EOWNERDEAD",
					r == 0 ? "success" : strerror(r));
	}
	fx_finish();
}
