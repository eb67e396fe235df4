/*
 * timers: an alarm() an hour away, ITIMER_VIRTUAL and ITIMER_PROF armed with intervals, a periodic POSIX
 * timer (CLOCK_MONOTONIC, 20 ms, SIGRTMIN+1 with a payload), a disarmed one with SIGEV_NONE, and a gap in the
 * timer ids (one created and deleted between them).
 * Verdict: the alarm and itimers are still armed with their intervals and no more time left than before, the
 * POSIX timers keep their ids, clocks and intervals, and the periodic one delivers its signal with its payload.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>

static volatile sig_atomic_t fired, bad_payload;

static void on_timer(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_value.sival_int == 77)
		fired++;
	else
		bad_payload++;
}

int main(void)
{
	struct sigaction sa;
	struct sigevent se;
	struct itimerval iv;
	struct itimerspec ts;
	timer_t periodic, gap, none;

	fx_init("timers");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	signal(SIGVTALRM, SIG_IGN);
	signal(SIGPROF, SIG_IGN);
	alarm(3600);
	iv.it_interval.tv_sec = 100;
	iv.it_interval.tv_usec = 0;
	iv.it_value.tv_sec = 200;
	iv.it_value.tv_usec = 0;
	setitimer(ITIMER_VIRTUAL, &iv, NULL);
	iv.it_value.tv_sec = 300;
	setitimer(ITIMER_PROF, &iv, NULL);

	memset(&se, 0, sizeof(se));
	se.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_REALTIME, &se, &gap))
		fx_fail("timer_create: %s", strerror(errno));
	if (timer_create(CLOCK_BOOTTIME, &se, &none))
		fx_fail("timer_create: %s", strerror(errno));
	timer_delete(gap);
	se.sigev_notify = SIGEV_SIGNAL;
	se.sigev_signo = SIGRTMIN + 1;
	se.sigev_value.sival_int = 77;
	if (timer_create(CLOCK_MONOTONIC, &se, &periodic))
		fx_fail("timer_create: %s", strerror(errno));
	ts.it_interval.tv_sec = 0;
	ts.it_interval.tv_nsec = 20000000;
	ts.it_value = ts.it_interval;
	timer_settime(periodic, 0, &ts, NULL);

	fx_ready();
	fx_wait_verify();

	unsigned left = alarm(0);
	if (left == 0 || left > 3600)
		fx_note_failure("alarm has %us left, expected 1..3600", left);
	getitimer(ITIMER_VIRTUAL, &iv);
	if (iv.it_interval.tv_sec != 100 || iv.it_value.tv_sec > 200 || (iv.it_value.tv_sec == 0 && iv.it_value.tv_usec == 0))
		fx_note_failure("ITIMER_VIRTUAL is %lds every %lds", (long)iv.it_value.tv_sec, (long)iv.it_interval.tv_sec);
	getitimer(ITIMER_PROF, &iv);
	if (iv.it_interval.tv_sec != 100 || iv.it_value.tv_sec > 300 || (iv.it_value.tv_sec == 0 && iv.it_value.tv_usec == 0))
		fx_note_failure("ITIMER_PROF is %lds every %lds", (long)iv.it_value.tv_sec, (long)iv.it_interval.tv_sec);
	if (timer_gettime(none, &ts))
		fx_note_failure("the SIGEV_NONE timer is gone: %s", strerror(errno));
	else if (ts.it_value.tv_sec || ts.it_value.tv_nsec)
		fx_note_failure("the disarmed timer is armed");
	if (timer_gettime(gap, &ts) == 0)
		fx_note_failure("the deleted timer id %ld exists", (long)(intptr_t)gap);
	if (timer_gettime(periodic, &ts))
		fx_note_failure("the periodic timer is gone: %s", strerror(errno));
	else if (ts.it_interval.tv_nsec != 20000000)
		fx_note_failure("the periodic timer has interval %ldns", ts.it_interval.tv_nsec);
	int before = fired;
	for (int i = 0; i < 500 && fired == before; i++)
		usleep(10000);
	if (fired == before)
		fx_note_failure("the periodic timer did not fire within 5 s");
	if (bad_payload)
		fx_note_failure("the timer signal came with a wrong payload");
	fx_finish();
}
