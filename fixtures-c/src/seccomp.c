/*
 * seccomp: seccomp filters in force (filter mode), as a container runtime leaves them in every container.
 * The process installs two (getpriority fails with errno 42, sysinfo with 43) under no_new_privs, then a thread
 * stacks a third on itself only (times, 44) and a child is forked, which inherits the process's two.
 * Verdict: each of them still gets exactly its errnos: the main thread 42 43 and times working, the thread
 * 42 43 44, the child 42 43 (its exit code says so); /proc's Seccomp_filters reads 2 for the main thread.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void deny(int nr, int err)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof code / sizeof code[0], code };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		fx_fail("seccomp(SECCOMP_SET_MODE_FILTER): %s", strerror(errno));
}

/* The errno each filtered call gives (0: it worked), as "A B C". */
static void observe(char *out, size_t len)
{
	int e[3];
	long nrs[3] = { SYS_getpriority, SYS_sysinfo, SYS_times };
	char buf[128];

	for (int i = 0; i < 3; i++) {
		errno = 0;
		long r = i == 0 ? syscall(nrs[i], 0 /* PRIO_PROCESS */, 0) : syscall(nrs[i], buf);
		e[i] = r == -1 ? errno : 0;
	}
	snprintf(out, len, "%d %d %d", e[0], e[1], e[2]);
}

static volatile int thread_ready;
static char thread_seen[32];

static void *thread(void *arg)
{
	sigset_t usr2;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2); /* the verdict request is the main thread's */
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	deny(SYS_times, 44);
	thread_ready = 1;
	while (!fx_verify_requested())
		fx_sleep_ms(10);
	observe(thread_seen, sizeof thread_seen);
	return arg;
}

int main(void)
{
	char seen[32];
	pthread_t t;
	pid_t kid;

	fx_init("seccomp");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fx_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	deny(SYS_getpriority, 42);
	deny(SYS_sysinfo, 43);
	kid = fork();
	if (kid < 0)
		fx_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		fx_wait_verify();
		observe(seen, sizeof seen);
		_exit(strcmp(seen, "42 43 0") == 0 ? 0 : 1);
	}
	if (pthread_create(&t, NULL, thread, NULL))
		fx_fail("pthread_create failed");
	while (!thread_ready)
		fx_sleep_ms(1);
	observe(seen, sizeof seen);
	if (strcmp(seen, "42 43 0"))
		fx_fail("before the dump the main thread sees errnos %s, expected 42 43 0", seen);

	fx_ready();
	fx_wait_verify();

	observe(seen, sizeof seen);
	if (strcmp(seen, "42 43 0"))
		fx_note_failure("the main thread sees errnos %s, expected 42 43 0 (its two filters)", seen);
	pthread_join(t, NULL);
	if (strcmp(thread_seen, "42 43 44"))
		fx_note_failure("the thread sees errnos %s, expected 42 43 44 (the process's two and its own)", thread_seen);
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	int filters = -1;
	while (f && fgets(line, sizeof line, f))
		sscanf(line, "Seccomp_filters: %d", &filters);
	if (f)
		fclose(f);
	if (filters != 2)
		fx_note_failure("the main thread has %d seccomp filters, expected 2", filters);
	if (!fx_children_passed(&kid, 1))
		fx_note_failure("the child does not see errnos 42 43 0 (the filters it inherited)");
	fx_finish();
}
