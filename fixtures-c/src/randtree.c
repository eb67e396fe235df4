/*
 * randtree: a process tree described by --tree=SPEC (the conformance suite's tree property draws it).
 *
 * SPEC lists the tasks after the root (task 0), comma separated, each PARENT:FLAGS:THREADS, e.g.
 * "0:s:1,1:gp:0,1:z:0" (--root-threads=N gives the root's extra threads). FLAGS, any of:
 *   s  setsid() as its first act (a new session)      g  setpgid(0, 0) (a new process group)
 *   p  a pipe to its parent: it writes 0, 1, 2, ... and the parent checks each number comes in order
 *   x  exits once its children are born, reaped by its parent: a dead session or group leader whose
 *      children the root (a child subreaper) adopts
 *   z  exits at once with status 1 + INDEX % 100 and stays a zombie of its parent (a leaf)
 *   t  stops itself (SIGSTOP) once the tree stands (a leaf)
 * A task under an x task may not be p, z or t (its parent is gone). Every live task counts its steps twice, privately and in its slot of shared anonymous memory, runs THREADS
 * extra threads that count too, and reads its children's pipes. Once the whole tree stands each task records its
 * pid, ppid, pgid and sid; the root then reports ready.
 * Verdict (SIGUSR2 to the root): every task checks its ids, that its shared count is its private one (memory
 * restored from one moment), that its threads are all there, that no pipe number was missing or repeated, and
 * that each zombie child still is one with its status; a stopped child must still be stopped (its parent
 * continues it). The root passes when every task did.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TASKS 32
#define MAX_THREADS 4

struct task_spec {
	int parent, threads;
	int s, g, p, x, z, t;
};

/* shared by the whole tree */
struct slot {
	volatile int pid, stood, recorded, result; /* result: 0 none yet, 1 pass, 2 fail */
	volatile unsigned long steps;
	char why[160];
};
struct shared {
	volatile int stage; /* 0 building, 1 record your ids, 2 verdict */
	struct slot slot[MAX_TASKS];
};

/* each task's own, in anonymous private memory (a tracker follows it; the binary's data segment it does not) */
struct own {
	int index;
	pid_t pid, ppid, pgid, sid;
	unsigned long steps;
	int nkids;
	pid_t kid[MAX_TASKS];
	int kid_index[MAX_TASKS];
	int kid_pipe[MAX_TASKS]; /* read end, or -1 */
	long expect[MAX_TASKS];	 /* the next number each child's pipe must bring */
	int out_pipe;		 /* write end to the parent, or -1 */
	long sent;
	int nthreads;
	pid_t tid[MAX_THREADS];
	volatile unsigned long thread_steps[MAX_THREADS];
	char why[160];
};

static struct task_spec spec[MAX_TASKS];
static int ntasks;
static struct shared *sh;
static struct own *me;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (me->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(me->why, sizeof(me->why), fmt, ap);
	va_end(ap);
}

static void parse(const char *s)
{
	ntasks = 1;
	spec[0].parent = -1;
	while (s && *s) {
		struct task_spec *t = &spec[ntasks];
		char *end;

		if (ntasks >= MAX_TASKS)
			fx_fail("more than %d tasks", MAX_TASKS);
		t->parent = (int)strtol(s, &end, 10);
		if (*end != ':' || t->parent < 0 || t->parent >= ntasks)
			fx_fail("bad task %d in --tree", ntasks);
		for (s = end + 1; *s && *s != ':'; s++) {
			switch (*s) {
			case 's': t->s = 1; break;
			case 'g': t->g = 1; break;
			case 'p': t->p = 1; break;
			case 'x': t->x = 1; break;
			case 'z': t->z = 1; break;
			case 't': t->t = 1; break;
			default: fx_fail("bad flag %c in --tree", *s);
			}
		}
		if (*s != ':')
			fx_fail("bad task %d in --tree (no thread count)", ntasks);
		t->threads = (int)strtol(s + 1, &end, 10);
		if (t->threads < 0 || t->threads > MAX_THREADS)
			fx_fail("bad thread count of task %d", ntasks);
		ntasks++;
		s = *end == ',' ? end + 1 : end;
	}
}

/* Sleeps ms milliseconds; a restore may cut it short (EINTR), which only makes a step come sooner. */
static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A thread counts for ever: it must still be there at the verdict (a task never ends its threads). */
static void *thread_main(void *arg)
{
	long k = (long)arg;

	me->tid[k] = (pid_t)syscall(SYS_gettid);
	for (;;) {
		me->thread_steps[k]++;
		nap(30);
	}
	return NULL;
}

static void start_threads(int n)
{
	pthread_t th;

	me->nthreads = n;
	for (long k = 0; k < n; k++)
		if (pthread_create(&th, NULL, thread_main, (void *)k) != 0)
			_exit(20);
	for (int k = 0; k < n; k++)
		while (me->tid[k] == 0)
			nap(1);
}

static void run_task(int i);

/* Forks task i's children, each with its pipe; reaps the ones that leave at once (x). */
static void grow(int i)
{
	for (int j = i + 1; j < ntasks; j++) {
		int fds[2] = { -1, -1 };
		pid_t kid;

		if (spec[j].parent != i)
			continue;
		if (spec[j].p && pipe2(fds, O_NONBLOCK) < 0)
			_exit(21);
		kid = fork();
		if (kid < 0)
			_exit(22);
		if (kid == 0) {
			/* the parent's pipes are not this task's */
			for (int k = 0; k < me->nkids; k++)
				if (me->kid_pipe[k] >= 0)
					close(me->kid_pipe[k]);
			if (me->out_pipe >= 0)
				close(me->out_pipe);
			if (fds[0] >= 0) {
				close(fds[0]);
				fcntl(fds[1], F_SETFL, 0); /* the writer blocks: no number is lost to EAGAIN */
			}
			me->out_pipe = fds[1];
			run_task(j);
		}
		if (fds[1] >= 0)
			close(fds[1]);
		me->kid[me->nkids] = kid;
		me->kid_index[me->nkids] = j;
		me->kid_pipe[me->nkids] = fds[0];
		me->expect[me->nkids] = 0;
		me->nkids++;
	}
	for (int k = 0; k < me->nkids; k++) {
		struct task_spec *t = &spec[me->kid_index[k]];
		siginfo_t si;

		if (t->x) {
			while (waitpid(me->kid[k], NULL, 0) < 0 && errno == EINTR)
				;
			sh->slot[me->kid_index[k]].stood = 1; /* gone: its children are the root's now */
		} else if (t->z) {
			memset(&si, 0, sizeof(si));
			while (waitid(P_PID, me->kid[k], &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
				;
			sh->slot[me->kid_index[k]].stood = 1; /* a zombie now */
		}
	}
}

static void drain_pipes(void)
{
	for (int k = 0; k < me->nkids; k++) {
		long n;

		if (me->kid_pipe[k] < 0)
			continue;
		while (read(me->kid_pipe[k], &n, sizeof(n)) == sizeof(n)) {
			if (n != me->expect[k])
				note("task %d: the pipe of task %d brought %ld, expected %ld", me->index, me->kid_index[k],
				     n, me->expect[k]);
			me->expect[k] = n + 1;
		}
	}
}

static void step(void)
{
	sh->slot[me->index].steps++;
	me->steps++;
	if (me->out_pipe >= 0) {
		if (write(me->out_pipe, &me->sent, sizeof(me->sent)) != sizeof(me->sent))
			note("task %d: cannot write its pipe: %s", me->index, strerror(errno));
		me->sent++;
	}
	drain_pipes();
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static void verify(void)
{
	struct slot *s = &sh->slot[me->index];
	char path[64];

	if (getpid() != me->pid || getppid() != me->ppid || getpgid(0) != me->pgid || getsid(0) != me->sid)
		note("task %d: pid %d ppid %d pgid %d sid %d, recorded %d %d %d %d", me->index, getpid(), getppid(),
		     getpgid(0), getsid(0), me->pid, me->ppid, me->pgid, me->sid);
	if (s->steps != me->steps)
		note("task %d: %lu steps in shared memory, %lu in its own: memory from two moments", me->index,
		     s->steps, me->steps);
	for (int k = 0; k < me->nthreads; k++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d", me->tid[k]);
		if (access(path, F_OK) != 0)
			note("task %d: its thread %d is gone", me->index, me->tid[k]);
	}
	drain_pipes();
	for (int k = 0; k < me->nkids; k++) {
		struct task_spec *t = &spec[me->kid_index[k]];
		siginfo_t si;

		if (t->z) {
			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, me->kid[k], &si, WEXITED | WNOWAIT | WNOHANG) < 0 || si.si_pid != me->kid[k])
				note("task %d: zombie child %d (task %d) is not a zombie", me->index, me->kid[k], me->kid_index[k]);
			else if (si.si_code != CLD_EXITED || si.si_status != 1 + me->kid_index[k] % 100)
				note("task %d: zombie child %d exited with %d (code %d), expected %d", me->index, me->kid[k],
				     si.si_status, si.si_code, 1 + me->kid_index[k] % 100);
		} else if (t->t) {
			if (proc_state(me->kid[k]) != 'T')
				note("task %d: stopped child %d is in state %c", me->index, me->kid[k], proc_state(me->kid[k]));
			kill(me->kid[k], SIGCONT);
		}
	}
	if (me->why[0]) {
		memcpy(s->why, me->why, sizeof(s->why));
		s->result = 2;
	} else {
		s->result = 1;
	}
}

static void record_and_run(int i)
{
	struct slot *s = &sh->slot[i];

	s->pid = getpid();
	s->stood = 1;
	while (sh->stage < 1)
		nap(5);
	me->pid = getpid();
	me->ppid = getppid();
	me->pgid = getpgid(0);
	me->sid = getsid(0);
	s->recorded = 1;
	if (spec[i].t)
		raise(SIGSTOP);
	while (sh->stage < 2) {
		step();
		nap(40);
	}
}

static void run_task(int i)
{
	struct task_spec *t = &spec[i];

	me->index = i;
	me->nkids = 0;
	me->steps = 0;
	me->sent = 0;
	me->nthreads = 0;
	me->why[0] = 0;
	memset((void *)me->tid, 0, sizeof(me->tid));
	if (t->s) {
		if (setsid() < 0)
			_exit(23);
	} else if (t->g) {
		if (setpgid(0, 0) < 0)
			_exit(24);
	}
	grow(i);
	if (t->x)
		_exit(0);
	if (t->z)
		_exit(1 + i % 100);
	start_threads(t->threads);
	record_and_run(i);
	verify();
	for (;;) /* staying: an exit would give its children another parent before they check theirs */
		pause();
}

int main(int argc, char **argv)
{
	const char *tree = fx_opt_str(argc, argv, "tree", "");
	int root_threads = (int)fx_opt_long(argc, argv, "root-threads", 0);

	fx_init("randtree");
	parse(tree);
	if (root_threads < 0 || root_threads > MAX_THREADS)
		fx_fail("bad --root-threads=%d", root_threads);
	spec[0].threads = root_threads;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fx_fail("cannot become a child subreaper");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	me = mmap(NULL, sizeof(*me), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || me == MAP_FAILED)
		fx_fail("cannot map memory");
	me->out_pipe = -1;
	me->index = 0;
	grow(0);
	start_threads(root_threads);
	sh->slot[0].pid = getpid();
	sh->slot[0].stood = 1;
	/* the tree stands when every task that lives on is there (the leaving ones are reaped or zombies by now) */
	for (int i = 1; i < ntasks; i++)
		while (!sh->slot[i].stood)
			nap(5);
	sh->stage = 1;
	me->pid = getpid();
	me->ppid = getppid();
	me->pgid = getpgid(0);
	me->sid = getsid(0);
	for (int i = 1; i < ntasks; i++) {
		if (spec[i].x || spec[i].z)
			continue;
		while (!sh->slot[i].recorded)
			nap(5);
		if (spec[i].t)
			while (proc_state(sh->slot[i].pid) != 'T')
				nap(5);
	}
	fx_ready();
	while (!fx_verify_requested()) {
		step();
		nap(40);
	}
	sh->stage = 2;
	verify();
	for (int i = 0; i < ntasks; i++) {
		if (spec[i].x || spec[i].z)
			continue;
		for (int waited = 0; !sh->slot[i].result; waited += 10) {
			if (waited > 20000)
				fx_fail("task %d (pid %d) gave no verdict within 20 s", i, sh->slot[i].pid);
			nap(10);
		}
		if (sh->slot[i].result != 1)
			fx_fail("%s", sh->slot[i].why);
	}
	fx_pass();
}
