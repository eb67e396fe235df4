/*
 * seccomp: threads under different seccomp filters, and a child in strict mode.
 *
 * The process sets no_new_privs (--nnp=1, the default; --nnp=0 relies on CAP_SYS_ADMIN instead), starts two
 * counting threads, then installs with SECCOMP_FILTER_FLAG_TSYNC, so that every thread shares them:
 *   A: getpriority(PRIO_PROCESS, WHO_A) fails with errno 201; sigaltstack fails with 205 (Cryo's dump asks every
 *      thread for its altstack: it must suspend the filter for that); rt_sigtimedwait kills the process (Cryo's
 *      restore calls it in the leader after the filters are back: it must suspend them for that too);
 *   B: getpriority(WHO_B) fails with 202, installed with SECCOMP_FILTER_FLAG_LOG.
 * The second thread then installs its own filter C (getpriority(WHO_C): 203) and starts a third thread, which
 * inherits A, B and C. A child forked before any filter enters strict mode and echoes bytes over two pipes.
 *
 * Every thread counts and checks its own filters each step (so after every restore): the errnos of A and B, of C
 * only in the threads that have it, no_new_privs, PR_GET_SECCOMP 2.
 * Verdict: every thread counted on after the verdict was asked; /proc's Seccomp_filters of each thread (2, 3, 3,
 * and 2 for the main thread); the strict child is in mode 1 and echoes; once the threads with C are gone, the
 * main thread installs E (getpriority(WHO_E): 204) with TSYNC, which succeeds only if the remaining threads'
 * filters are the same chain as its own (as TSYNC made them), and the first thread must then see E; the strict
 * child exits 0 through exit(2), the one call besides read, write and sigreturn that strict mode allows.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WHO_A 0x7ecc0a01u
#define WHO_B 0x7ecc0b02u
#define WHO_C 0x7ecc0c03u
#define WHO_E 0x7ecc0e04u
#define ERR_A 201
#define ERR_B 202
#define ERR_C 203
#define ERR_E 204
#define ERR_ALTSTACK 205

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define NR offsetof(struct seccomp_data, nr)
#define ARCH offsetof(struct seccomp_data, arch)
#define ARG1 offsetof(struct seccomp_data, args[1]) /* its low 32 bits: x86_64 is little-endian */

static int nnp;
static long step_ms;

/* A: see above. */
static struct sock_filter filter_a[] = {
	LD(ARCH),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 9),
	LD(NR),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpriority, 0, 3),
	LD(ARG1),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WHO_A, 0, 5),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ERR_A),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sigaltstack, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ERR_ALTSTACK),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigtimedwait, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

/* getpriority(PRIO_PROCESS, who) fails with err; everything else is allowed. */
static void who_filter(struct sock_filter out[8], unsigned who, int err)
{
	struct sock_filter f[8] = {
		LD(ARCH),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		LD(NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpriority, 0, 3),
		LD(ARG1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, who, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	memcpy(out, f, sizeof(f));
}

/* seccomp(SECCOMP_SET_MODE_FILTER): 0, a tid TSYNC could not reach, or -1 with errno. */
static long install(struct sock_filter *f, unsigned short len, unsigned flags)
{
	struct sock_fprog prog = { .len = len, .filter = f };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static long install_who(unsigned who, int err, unsigned flags)
{
	struct sock_filter f[8];

	who_filter(f, who, err);
	return install(f, 8, flags);
}

/* The errno getpriority(PRIO_PROCESS, who) fails with (ESRCH without a filter: no such pid). */
static int errno_of(unsigned who)
{
	errno = 0;
	if (syscall(SYS_getpriority, PRIO_PROCESS, who) != -1)
		return 0;
	return errno;
}

/*
 * The filters this thread must have, checked; the first difference is written to why. E must act once the main
 * thread's install returned before the call (e_installed), and must not while the install had not begun after it
 * (e_installing): in between, either.
 */
static _Atomic int e_installing, e_installed;

static int check_filters(int with_c, char *why, size_t n)
{
	int e, before;

	if ((e = errno_of(WHO_A)) != ERR_A)
		return snprintf(why, n, "filter A: getpriority gave errno %d, expected %d", e, ERR_A), 0;
	if ((e = errno_of(WHO_B)) != ERR_B)
		return snprintf(why, n, "filter B: getpriority gave errno %d, expected %d", e, ERR_B), 0;
	if ((e = errno_of(WHO_C)) != (with_c ? ERR_C : ESRCH))
		return snprintf(why, n, "filter C: getpriority gave errno %d, expected %d", e, with_c ? ERR_C : ESRCH), 0;
	before = e_installed;
	e = errno_of(WHO_E);
	if ((before && e != ERR_E) || (!e_installing && e != ESRCH))
		return snprintf(why, n, "filter E: getpriority gave errno %d, expected %d", e, before ? ERR_E : ESRCH), 0;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != nnp)
		return snprintf(why, n, "no_new_privs is %d, expected %d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), nnp), 0;
	if (prctl(PR_GET_SECCOMP) != SECCOMP_MODE_FILTER)
		return snprintf(why, n, "PR_GET_SECCOMP is %d, expected 2", prctl(PR_GET_SECCOMP)), 0;
	return 1;
}

struct worker {
	pthread_t thread;
	_Atomic pid_t tid;
	int with_c;       /* installs C itself (the second thread), or inherits it (the third) */
	int starts_third; /* starts the third thread once C is in */
	_Atomic long count;
	_Atomic int stop;
	char failure[200];
};

static struct worker workers[3];
static _Atomic int filters_in;   /* A and B installed: the first two workers may check them */
static _Atomic int started;

static void *work(void *arg)
{
	struct worker *w = arg;
	char why[160];

	w->tid = gettid();
	while (!filters_in)
		fx_sleep_ms(1);
	if (w->starts_third) {
		if (install_who(WHO_C, ERR_C, 0) != 0) {
			snprintf(w->failure, sizeof(w->failure), "installing filter C: %s", strerror(errno));
		} else if (pthread_create(&workers[2].thread, NULL, work, &workers[2]) != 0) {
			snprintf(w->failure, sizeof(w->failure), "cannot start the third thread");
		}
	}
	started++;
	while (!w->stop) {
		if (!w->failure[0] && !check_filters(w->with_c, why, sizeof(why)))
			snprintf(w->failure, sizeof(w->failure), "after %ld steps: %s", (long)w->count, why);
		w->count++;
		fx_sleep_ms(step_ms);
	}
	return NULL;
}

/* Seccomp (mode) and Seccomp_filters of a task of this process or of the child, from /proc. */
static void seccomp_status(const char *path, int *mode, int *filters)
{
	char line[256];
	FILE *f = fopen(path, "re");

	*mode = *filters = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Seccomp:", 8))
			*mode = atoi(line + 8);
		else if (!strncmp(line, "Seccomp_filters:", 16))
			*filters = atoi(line + 16);
	}
	if (f)
		fclose(f);
}

/* The strict child: echoes each byte plus one; 'q' ends it, and so does its parent's end closing. */
static void strict_child(int in, int out) __attribute__((noreturn));
static void strict_child(int in, int out)
{
	char c;

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
		syscall(SYS_exit, 3);
	for (;;) {
		if (syscall(SYS_read, in, &c, 1) != 1)
			syscall(SYS_exit, 2);
		if (c == 'q')
			syscall(SYS_exit, 0); /* exit(2), not exit_group: strict mode allows only the former */
		c++;
		syscall(SYS_write, out, &c, 1);
	}
}

/* One byte to the strict child and its answer back, within 5 s. */
static int strict_echo(int to, int from, char c)
{
	struct pollfd p = { .fd = from, .events = POLLIN };
	char got;

	if (write(to, &c, 1) != 1)
		return 0;
	while (poll(&p, 1, 5000) < 0)
		if (errno != EINTR)
			return 0;
	return (p.revents & POLLIN) && read(from, &got, 1) == 1 && got == c + 1;
}

int main(int argc, char **argv)
{
	int down[2], up[2], mode, count;
	long at_ask[3];
	char why[160], path[64];
	pid_t child;
	sigset_t block, old;

	nnp = (int)fx_opt_long(argc, argv, "nnp", 1);
	step_ms = fx_opt_long(argc, argv, "step-ms", 10);
	fx_init("seccomp");
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fx_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (pipe2(down, O_CLOEXEC) || pipe2(up, O_CLOEXEC))
		fx_fail("pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		fx_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(down[1]);
		close(up[0]);
		strict_child(down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);

	/* the verdict and command signals go to the main thread only */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	workers[1].with_c = workers[1].starts_third = 1;
	workers[2].with_c = 1;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
			fx_fail("cannot start thread %d", i);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (!workers[0].tid || !workers[1].tid)
		fx_sleep_ms(1);

	if (install(filter_a, sizeof(filter_a) / sizeof(filter_a[0]), SECCOMP_FILTER_FLAG_TSYNC) != 0)
		fx_fail("installing filter A with TSYNC: %s", strerror(errno));
	if (install_who(WHO_B, ERR_B, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG) != 0)
		fx_fail("installing filter B with TSYNC and LOG: %s", strerror(errno));
	filters_in = 1;
	while (started < 3) {
		if (workers[1].failure[0])
			fx_fail("second thread: %s", workers[1].failure);
		fx_sleep_ms(1);
	}
	if (!check_filters(0, why, sizeof(why)))
		fx_fail("main thread before the dump: %s", why);
	if (!strict_echo(down[1], up[0], 'a'))
		fx_fail("the strict child does not echo before the dump");

	fx_ready();
	fx_wait_verify();

	for (int i = 0; i < 3; i++)
		at_ask[i] = workers[i].count;
	fx_sleep_ms(step_ms * 10);
	for (int i = 0; i < 3; i++)
		if (workers[i].count <= at_ask[i])
			fx_note_failure("thread %d (tid %d) stopped counting at %ld", i, workers[i].tid, at_ask[i]);
	if (!check_filters(0, why, sizeof(why)))
		fx_note_failure("main thread: %s", why);
	for (int i = -1; i < 3; i++) {
		int want = i == -1 || i == 0 ? 2 : 3;
		pid_t tid = i == -1 ? getpid() : workers[i].tid;

		snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
		seccomp_status(path, &mode, &count);
		if (mode != 2 || count != want)
			fx_note_failure("thread %d: /proc says Seccomp %d with %d filters, expected 2 with %d", tid, mode, count,
					want);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", child);
	seccomp_status(path, &mode, &count);
	if (mode != 1)
		fx_note_failure("the strict child %d is in seccomp mode %d, expected 1", child, mode);
	if (!strict_echo(down[1], up[0], 'k'))
		fx_note_failure("the strict child %d does not echo", child);

	/* the threads with C go; then the rest share A and B only, and TSYNC must reach them */
	for (int i = 1; i < 3; i++) {
		workers[i].stop = 1;
		pthread_join(workers[i].thread, NULL);
	}
	/* pthread_join returns when the kernel clears the thread's tid, before the thread has left its group; a kernel
	   whose TSYNC does not skip exiting threads (6.1) would still see it, filter C and all: wait until it is gone */
	for (int i = 1; i < 3; i++) {
		char task[64];
		snprintf(task, sizeof(task), "/proc/self/task/%d", workers[i].tid);
		for (int tries = 0; access(task, F_OK) == 0 && tries < 5000; tries++)
			poll(NULL, 0, 1);
	}
	e_installing = 1;
	long r = install_who(WHO_E, ERR_E, SECCOMP_FILTER_FLAG_TSYNC);
	if (r > 0)
		fx_note_failure("TSYNC of filter E failed at thread %ld: its filters are not the main thread's chain", r);
	else if (r < 0)
		fx_note_failure("installing filter E with TSYNC: %s", strerror(errno));
	else
		e_installed = 1;
	at_ask[0] = workers[0].count;
	while (r == 0 && workers[0].count < at_ask[0] + 3 && !workers[0].failure[0])
		fx_sleep_ms(step_ms);
	workers[0].stop = 1;
	pthread_join(workers[0].thread, NULL);
	for (int i = 0; i < 3; i++)
		if (workers[i].failure[0])
			fx_note_failure("thread %d (tid %d): %s", i, workers[i].tid, workers[i].failure);

	char q = 'q';
	int status;
	if (write(down[1], &q, 1) != 1)
		fx_note_failure("cannot ask the strict child to exit");
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fx_note_failure("the strict child ended with status %#x, expected exit 0", status);
	fx_finish();
}
