/*
 * sigio: files set for signal-driven I/O, each with its own owner and signal.
 *
 * A pipe owned by the process (F_SETOWN) that sends SIGRTMIN+2 (F_SETSIG); a unix socketpair owned by the
 * process group (F_SETOWN_EX, F_OWNER_PGRP) that sends plain SIGIO; a second pipe with an owner and a signal but
 * no O_ASYNC, which must stay silent. All are non-blocking.
 * Verdict: each file still has its owner, signal and O_ASYNC; data written into each then signals the process
 * with the file's signal, naming the file's fd (si_fd) where F_SETSIG is set; the silent pipe sends nothing.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t got[65], fd_of[65];

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	got[sig]++;
	if (si->si_code > 0)
		fd_of[sig] = si->si_fd;
}

static void async(int fd, int type, int owner, int sig, int on)
{
	struct f_owner_ex ex = { type, owner };

	if (fcntl(fd, F_SETOWN_EX, &ex) || (sig && fcntl(fd, F_SETSIG, sig))
	    || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK | (on ? O_ASYNC : 0)))
		fx_fail("fcntl on fd %d: %s", fd, strerror(errno));
}

static void expect_owner(const char *what, int fd, int type, int owner, int sig, int on)
{
	struct f_owner_ex ex;

	if (fcntl(fd, F_GETOWN_EX, &ex) || (int)ex.type != type || ex.pid != owner)
		fx_note_failure("%s: owner %d of type %d, expected %d of type %d", what, ex.pid, (int)ex.type, owner, type);
	if (fcntl(fd, F_GETSIG) != sig)
		fx_note_failure("%s: signal %d, expected %d", what, fcntl(fd, F_GETSIG), sig);
	if (!!(fcntl(fd, F_GETFL) & O_ASYNC) != on)
		fx_note_failure("%s: O_ASYNC %s", what, on ? "lost" : "gained");
}

int main(void)
{
	int rt = SIGRTMIN + 2, p[2], s[2], q[2];
	struct sigaction sa;

	fx_init("sigio");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGIO, &sa, NULL) || sigaction(rt, &sa, NULL))
		fx_fail("sigaction: %s", strerror(errno));
	if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, s) || pipe(q))
		fx_fail("pipe/socketpair: %s", strerror(errno));
	async(p[0], F_OWNER_PID, getpid(), rt, 1);
	async(s[0], F_OWNER_PGRP, getpgrp(), 0, 1);
	async(q[0], F_OWNER_PID, getpid(), rt, 0);

	fx_ready();
	fx_wait_verify();

	expect_owner("the pipe", p[0], F_OWNER_PID, getpid(), rt, 1);
	expect_owner("the socket", s[0], F_OWNER_PGRP, getpgrp(), 0, 1);
	expect_owner("the silent pipe", q[0], F_OWNER_PID, getpid(), rt, 0);
	if (write(q[1], "q", 1) != 1 || write(p[1], "p", 1) != 1 || write(s[1], "s", 1) != 1)
		fx_fail("write: %s", strerror(errno));
	for (int i = 0; i < 200 && !(got[rt] && got[SIGIO]); i++)
		fx_sleep_ms(10);
	if (got[rt] != 1)
		fx_note_failure("SIGRTMIN+2 came %d times, expected once (from the pipe only)", (int)got[rt]);
	else if (fd_of[rt] != p[0])
		fx_note_failure("SIGRTMIN+2 named fd %d, expected %d", (int)fd_of[rt], p[0]);
	if (got[SIGIO] != 1)
		fx_note_failure("SIGIO came %d times, expected once (from the socket)", (int)got[SIGIO]);
	fx_finish();
}
