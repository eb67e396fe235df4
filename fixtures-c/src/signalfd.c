/*
 * signalfd: two signalfds, one reading SIGHUP and SIGRTMIN+3 (both blocked and pending, the real-time one
 * with a payload), one reading SIGTERM only.
 * Verdict: the masks are kept (fdinfo), the flags are kept, and the first signalfd reads both pending signals
 * with their payload.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static unsigned long long mask_of(int fd)
{
	char path[64], line[256];
	unsigned long long m = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "sigmask: %llx", &m) == 1)
			break;
	fclose(f);
	return m;
}

int main(void)
{
	sigset_t both, term;
	union sigval val = {.sival_int = 42};
	int sfd, tfd;

	fx_init("signalfd");
	sigemptyset(&both);
	sigaddset(&both, SIGHUP);
	sigaddset(&both, SIGRTMIN + 3);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &both, NULL);
	sfd = signalfd(-1, &both, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = signalfd(-1, &term, 0);
	if (sfd < 0 || tfd < 0)
		fx_fail("signalfd: %s", strerror(errno));
	unsigned long long want_both = mask_of(sfd), want_term = mask_of(tfd);
	kill(getpid(), SIGHUP);
	sigqueue(getpid(), SIGRTMIN + 3, val);

	fx_ready();
	fx_wait_verify();

	if (mask_of(sfd) != want_both || mask_of(tfd) != want_term)
		fx_note_failure("masks are %llx and %llx, expected %llx and %llx", mask_of(sfd), mask_of(tfd), want_both,
				want_term);
	if (!(fcntl(sfd, F_GETFL) & O_NONBLOCK) || (fcntl(tfd, F_GETFL) & O_NONBLOCK))
		fx_note_failure("O_NONBLOCK not kept");
	if (!(fcntl(sfd, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");
	int seen_hup = 0, seen_rt = 0;
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			seen_hup++;
		else if ((int)si.ssi_signo == SIGRTMIN + 3 && si.ssi_int == 42)
			seen_rt++;
		else
			fx_note_failure("unexpected signal %u (int %d)", si.ssi_signo, si.ssi_int);
	}
	if (seen_hup != 1 || seen_rt != 1)
		fx_note_failure("read SIGHUP %d times and SIGRTMIN+3 with its payload %d times, expected once each",
				seen_hup, seen_rt);
	fx_finish();
}
