/*
 * pidfd: pidfds of the tree's tasks, of itself, of a zombie and of a reaped child.
 *   a   child A made by clone3 with CLONE_PIDFD (and a dup of that fd: one open file description)
 *   b   child B, through pidfd_open(B, PIDFD_NONBLOCK), and a second, blocking pidfd of B with FD_CLOEXEC off
 *   s   pidfd_open(getpid()), and pidfd_open(getpid(), PIDFD_THREAD) when the kernel has it (6.9+)
 *   z   child Z, exited with 7 and not reaped: a zombie of the tree
 *   d   child D, exited with 3 and reaped through its pidfd (waitid P_PIDFD): two pidfds of a process gone
 * Verdict: each fd names the same process (fdinfo Pid:), keeps its flags and FD_CLOEXEC, and works: poll says
 * who has exited, waitid(P_PIDFD) gives the exit status, pidfd_send_signal reaches the live ones (A and B are
 * killed through their pidfds) and says ESRCH for the reaped one.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

/* The Pid: line of the fd's fdinfo; -2 when there is none. */
static int pid_of(int fd)
{
	char path[64], line[256];
	int pid = -2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r == 1 && (p.revents & POLLIN);
}

static void idle(void)
{
	for (;;)
		pause();
}

/* A child that exits with code once its parent has its pidfd (a byte on the pipe). */
static pid_t child_exiting(int code, int *go)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p))
		fx_fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fx_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(code);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void check_pid(const char *what, int fd, int want)
{
	int got = pid_of(fd);

	if (got != want)
		fx_note_failure("%s (fd %d) names pid %d, expected %d", what, fd, got, want);
}

static void check_exit(const char *what, int fd, pid_t pid, int code, int status)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, fd, &si, WEXITED) != 0)
		fx_note_failure("%s: waitid(P_PIDFD, %d): %s", what, fd, strerror(errno));
	else if (si.si_pid != pid || si.si_code != code || si.si_status != status)
		fx_note_failure("%s: waitid gave pid %d code %d status %d, expected pid %d code %d status %d", what,
				si.si_pid, si.si_code, si.si_status, pid, code, status);
}

int main(void)
{
	int a = -1, a_dup, b_nb, b, self, self_thread, z, d1, d2, go_z, go_d;
	struct clone_args args;
	pid_t pa, pb, pz, pd;

	fx_init("pidfd");

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)&a;
	args.exit_signal = SIGCHLD;
	pa = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pa < 0)
		fx_fail("clone3(CLONE_PIDFD): %s", strerror(errno));
	if (pa == 0)
		idle();
	a_dup = dup(a);

	pb = fork();
	if (pb < 0)
		fx_fail("fork: %s", strerror(errno));
	if (pb == 0)
		idle();
	b_nb = pidfd_open(pb, PIDFD_NONBLOCK);
	b = pidfd_open(pb, 0);
	if (b_nb < 0 || b < 0)
		fx_fail("pidfd_open(%d): %s", pb, strerror(errno));
	fcntl(b, F_SETFD, 0);

	self = pidfd_open(getpid(), 0);
	self_thread = pidfd_open(getpid(), PIDFD_THREAD); /* EINVAL before 6.9: not checked then */
	if (self < 0)
		fx_fail("pidfd_open(self): %s", strerror(errno));

	pz = child_exiting(7, &go_z);
	z = pidfd_open(pz, 0);
	pd = child_exiting(3, &go_d);
	d1 = pidfd_open(pd, 0);
	d2 = pidfd_open(pd, PIDFD_NONBLOCK);
	if (z < 0 || d1 < 0 || d2 < 0)
		fx_fail("pidfd_open of a child: %s", strerror(errno));
	close(go_z);
	close(go_d);
	if (!readable(z, 10000) || !readable(d1, 10000))
		fx_fail("the exiting children's pidfds never turned readable");
	siginfo_t si;
	if (waitid(P_PIDFD, d1, &si, WEXITED) != 0) /* D is reaped: its pidfds now name a process gone */
		fx_fail("waitid(P_PIDFD) of D: %s", strerror(errno));
	if (pid_of(d1) != -1 || pid_of(z) != pz)
		fx_fail("before the dump: D's pidfd names %d, Z's %d", pid_of(d1), pid_of(z));

	fx_ready();
	fx_wait_verify();

	/* who each fd names, its flags */
	check_pid("A's CLONE_PIDFD fd", a, pa);
	check_pid("A's dup", a_dup, pa);
	check_pid("B's nonblocking pidfd", b_nb, pb);
	check_pid("B's pidfd", b, pb);
	check_pid("the pidfd of itself", self, getpid());
	if (self_thread >= 0) {
		check_pid("the PIDFD_THREAD pidfd of itself", self_thread, getpid());
		if (!(fcntl(self_thread, F_GETFL) & PIDFD_THREAD))
			fx_note_failure("PIDFD_THREAD not kept (flags %o)", fcntl(self_thread, F_GETFL));
	}
	check_pid("Z's pidfd", z, pz);
	check_pid("D's first pidfd", d1, -1);
	check_pid("D's second pidfd", d2, -1);
	if (!(fcntl(b_nb, F_GETFL) & O_NONBLOCK) || (fcntl(b, F_GETFL) & O_NONBLOCK))
		fx_note_failure("O_NONBLOCK not kept (B's pidfds: %o and %o)", fcntl(b_nb, F_GETFL), fcntl(b, F_GETFL));
	if (!(fcntl(a, F_GETFD) & FD_CLOEXEC) || (fcntl(b, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");

	/* who has exited: the zombie and the reaped child, nobody else */
	if (readable(a, 0) || readable(b, 0) || readable(self, 0))
		fx_note_failure("a live process's pidfd reads as exited");
	if (!readable(z, 0) || !readable(d1, 0) || !readable(d2, 0))
		fx_note_failure("the zombie's or the reaped child's pidfd does not read as exited");
	if (pidfd_send_signal(self, 0) != 0)
		fx_note_failure("pidfd_send_signal(itself, 0): %s", strerror(errno));
	errno = 0;
	if (pidfd_send_signal(d1, 0) == 0 || errno != ESRCH)
		fx_note_failure("pidfd_send_signal to the reaped child: %s, expected ESRCH", strerror(errno));
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, b_nb, &si, WEXITED | WNOHANG) != 0 || si.si_pid != 0)
		fx_note_failure("waitid(P_PIDFD, B, WNOHANG): %s, pid %d (B is alive)", strerror(errno), si.si_pid);

	/* the zombie's status, then A and B killed through their pidfds and waited for through them */
	check_exit("Z", z, pz, CLD_EXITED, 7);
	if (pidfd_send_signal(a_dup, SIGTERM) != 0)
		fx_note_failure("pidfd_send_signal(A, SIGTERM): %s", strerror(errno));
	if (!readable(a, 10000))
		fx_note_failure("A's pidfd did not turn readable once A was killed");
	check_exit("A", a, pa, CLD_KILLED, SIGTERM);
	if (pidfd_send_signal(b_nb, SIGKILL) != 0)
		fx_note_failure("pidfd_send_signal(B, SIGKILL): %s", strerror(errno));
	check_exit("B", b, pb, CLD_KILLED, SIGKILL);
	errno = 0;
	if (waitid(P_PIDFD, d2, &si, WEXITED | WNOHANG) == 0 || errno != ECHILD)
		fx_note_failure("waitid(P_PIDFD) of the reaped child: %s, expected ECHILD", strerror(errno));
	fx_finish();
}
