/*
 * signals: handlers, flags, a blocked mask, ignored signals and queued (pending) signals with payloads.
 *
 * Before the dump: SIGUSR1 and SIGRTMIN+2 get SA_SIGINFO handlers, SIGHUP is ignored, SIGUSR1,
 * SIGRTMIN+2 and SIGRTMIN+3 are blocked, and while blocked the fixture queues SIGUSR1 (value 42),
 * SIGRTMIN+2 twice (values 7, 8: real-time signals queue) and raises SIGRTMIN+3.
 * Verdict: handlers, flags and masks are what were installed, the same signals are pending, and
 * once unblocked each handler runs with the payload that was queued, real-time ones in order.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_value = -1, usr1_code, rt3_seen;
static volatile sig_atomic_t rt2_values[4], rt2_count;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	usr1_value = si->si_value.sival_int;
	usr1_code = si->si_code;
}

static void on_rt2(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	if (rt2_count < 4)
		rt2_values[rt2_count] = si->si_value.sival_int;
	rt2_count++;
}

static void on_rt3(int sig) { (void)sig; rt3_seen = 1; }

static void expect_action(int sig, void *handler, int flags)
{
	struct sigaction now;

	sigaction(sig, NULL, &now);
	if ((void *)now.sa_sigaction != handler)
		fx_note_failure("signal %d: handler %p, expected %p", sig, (void *)now.sa_sigaction, handler);
	if ((now.sa_flags & flags) != flags)
		fx_note_failure("signal %d: flags %#x lack %#x", sig, now.sa_flags, flags);
	if (sig == SIGUSR1 && !sigismember(&now.sa_mask, SIGTERM))
		fx_note_failure("signal %d: handler mask lost SIGTERM", sig);
}

int main(void)
{
	struct sigaction sa;
	sigset_t blocked, expected, now, pending;
	int rt2 = SIGRTMIN + 2, rt3 = SIGRTMIN + 3;

	fx_init("signals");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_rt2;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(rt2, &sa, NULL);
	sa.sa_handler = on_rt3;
	sa.sa_flags = 0;
	sigaction(rt3, &sa, NULL);
	signal(SIGHUP, SIG_IGN);

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, rt2);
	sigaddset(&blocked, rt3);
	/* the mask inherited from whoever started the fixture stays part of what must come back */
	sigprocmask(SIG_BLOCK, &blocked, &expected);
	sigorset(&expected, &expected, &blocked);
	sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 42 });
	sigqueue(getpid(), rt2, (union sigval){ .sival_int = 7 });
	sigqueue(getpid(), rt2, (union sigval){ .sival_int = 8 });
	raise(rt3);

	fx_ready();
	fx_wait_verify();

	expect_action(SIGUSR1, (void *)on_usr1, SA_SIGINFO | SA_RESTART);
	expect_action(rt2, (void *)on_rt2, SA_SIGINFO | SA_ONSTACK);
	expect_action(rt3, (void *)on_rt3, 0);
	sigaction(SIGHUP, NULL, &sa);
	if (sa.sa_handler != SIG_IGN)
		fx_note_failure("SIGHUP is no longer ignored");
	sigprocmask(SIG_BLOCK, NULL, &now);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&now, s) != sigismember(&expected, s))
			fx_note_failure("signal %d is %s, expected %s", s, sigismember(&now, s) ? "blocked" : "unblocked",
					sigismember(&expected, s) ? "blocked" : "unblocked");
	sigpending(&pending);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&pending, s) != sigismember(&blocked, s))
			fx_note_failure("signal %d is %spending", s, sigismember(&pending, s) ? "" : "not ");
	if (fx_failed())
		fx_finish();

	sigprocmask(SIG_UNBLOCK, &blocked, NULL);
	if (usr1_value != 42 || usr1_code != SI_QUEUE)
		fx_note_failure("SIGUSR1 came with value %d code %d, expected 42 SI_QUEUE", (int)usr1_value, (int)usr1_code);
	if (rt2_count != 2 || rt2_values[0] != 7 || rt2_values[1] != 8)
		fx_note_failure("SIGRTMIN+2 came %d times (%d, %d), expected twice (7, 8)", (int)rt2_count,
				(int)rt2_values[0], (int)rt2_values[1]);
	if (!rt3_seen)
		fx_note_failure("SIGRTMIN+3 was not delivered");
	fx_finish();
}
