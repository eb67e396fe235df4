/*
 * nanosleep: a process asleep in long nanosleep calls when it is dumped.
 *
 * A sleep may end early only with EINTR (what a restored process sees in place of the kernel's
 * restart block), and then it sleeps again. Any other error, for example the restart
 * code 516 leaking as "Unknown error 516", is a failure; so is a sleep that returned 0 too early.
 * --sleep-ms=N is the length of one sleep (default 60000). --no-eintr=1: an EINTR (but the verdict's signal's) is a failure too (the kernel
 * restarts a sleep that was only stopped and continued, and an engine may do as the kernel does).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long sleep_ms = fx_opt_long(argc, argv, "sleep-ms", 60000);
	int no_eintr = fx_opt_long(argc, argv, "no-eintr", 0) != 0;
	int rounds = 0;

	fx_init("nanosleep");
	fx_ready();
	while (!fx_verify_requested()) {
		struct timespec req = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L }, rem;
		long long start = now_ns();

		if (nanosleep(&req, &rem) == 0) {
			/* monotonic time only moves forward: a dump in between can only make the sleep look longer */
			if (now_ns() - start < sleep_ms * 1000000LL - 1000000LL)
				fx_note_failure("a %ld ms nanosleep returned 0 after %lld ms", sleep_ms,
						(now_ns() - start) / 1000000LL);
			rounds++;
		} else if (errno == EINTR && no_eintr && !fx_verify_requested()) {
			fx_note_failure("a %ld ms nanosleep returned EINTR after %lld ms", sleep_ms,
					(now_ns() - start) / 1000000LL);
			break;
		} else if (errno != EINTR) {
			fx_note_failure("nanosleep failed with errno %d (%s)", errno, strerror(errno));
			break;
		}
	}
	(void)rounds;
	fx_finish();
}
