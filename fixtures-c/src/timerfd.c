/*
 * timerfd: a periodic timer (50 ms), a one-shot that expired and was never read (its tick waits), a one-shot
 * an hour away, an absolute CLOCK_REALTIME timer 1000 s away with TFD_TIMER_CANCEL_ON_SET, a disarmed
 * CLOCK_BOOTTIME timer.
 * Verdict: clocks, intervals and flags are kept; the unread tick reads 1; the far timers have not fired and
 * are due no later than they were; the disarmed one is still disarmed; the periodic one fires.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static struct itimerspec its(long vs, long vns, long is, long ins)
{
	struct itimerspec t = {.it_value = {vs, vns}, .it_interval = {is, ins}};
	return t;
}

static struct itimerspec now_of(int fd)
{
	struct itimerspec t;
	memset(&t, 0, sizeof(t));
	timerfd_gettime(fd, &t);
	return t;
}

int main(void)
{
	int periodic, expired, hour, absolute, disarmed;
	struct timespec now;
	struct pollfd p;

	fx_init("timerfd");
	periodic = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	expired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	hour = timerfd_create(CLOCK_MONOTONIC, 0);
	absolute = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	disarmed = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	if (periodic < 0 || expired < 0 || hour < 0 || absolute < 0 || disarmed < 0)
		fx_fail("timerfd_create: %s", strerror(errno));
	struct itimerspec t = its(0, 50000000, 0, 50000000);
	timerfd_settime(periodic, 0, &t, NULL);
	t = its(0, 1000000, 0, 0);
	timerfd_settime(expired, 0, &t, NULL);
	t = its(3600, 0, 0, 0);
	timerfd_settime(hour, 0, &t, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	t = its(now.tv_sec + 1000, 0, 0, 0);
	if (timerfd_settime(absolute, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &t, NULL))
		fx_fail("timerfd_settime(abs): %s", strerror(errno));
	p.fd = expired;
	p.events = POLLIN;
	if (poll(&p, 1, 10000) != 1)
		fx_fail("the 1 ms timer did not expire in 10 s");

	fx_ready();
	fx_wait_verify();

	uint64_t ticks = 0;
	if (read(expired, &ticks, 8) != 8 || ticks != 1)
		fx_note_failure("the expired one-shot reads %llu ticks (%s), expected 1", (unsigned long long)ticks,
				strerror(errno));
	struct itimerspec g = now_of(hour);
	if (g.it_value.tv_sec > 3600 || (g.it_value.tv_sec == 0 && g.it_value.tv_nsec == 0) || g.it_interval.tv_sec)
		fx_note_failure("the hour timer has %lds left, interval %lds", (long)g.it_value.tv_sec,
				(long)g.it_interval.tv_sec);
	if (fcntl(hour, F_GETFL) & O_NONBLOCK)
		fx_note_failure("the hour timer became non-blocking");
	g = now_of(absolute);
	if (g.it_value.tv_sec > 1000 || (g.it_value.tv_sec == 0 && g.it_value.tv_nsec == 0))
		fx_note_failure("the absolute timer has %lds left, expected at most 1000", (long)g.it_value.tv_sec);
	g = now_of(disarmed);
	if (g.it_value.tv_sec || g.it_value.tv_nsec || g.it_interval.tv_sec || g.it_interval.tv_nsec)
		fx_note_failure("the disarmed timer is armed");
	g = now_of(periodic);
	if (g.it_interval.tv_sec != 0 || g.it_interval.tv_nsec != 50000000)
		fx_note_failure("the periodic timer has interval %ld.%09ld", (long)g.it_interval.tv_sec,
				(long)g.it_interval.tv_nsec);
	p.fd = periodic;
	if (poll(&p, 1, 10000) != 1 || read(periodic, &ticks, 8) != 8 || ticks < 1)
		fx_note_failure("the periodic timer does not fire");
	if (!(fcntl(expired, F_GETFD) & FD_CLOEXEC) || !(fcntl(periodic, F_GETFL) & O_NONBLOCK))
		fx_note_failure("flags not kept");
	fx_finish();
}
