/*
 * eventfd: counters in the states a program leaves them.
 *
 * A non-blocking counter holding a value wider than 32 bits; an EFD_SEMAPHORE counter at 3; a blocking
 * counter at 0.
 * Verdict: each counter reads back its value (the semaphore one by ones), then is empty; the flags are kept.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static uint64_t take(int fd, const char *what)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8) {
		fx_note_failure("%s: read failed: %s", what, strerror(errno));
		return 0;
	}
	return v;
}

int main(void)
{
	const uint64_t wide = 0x123456789abULL;
	int big, sem, blocking;

	fx_init("eventfd");
	big = eventfd(0, EFD_NONBLOCK);
	sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	blocking = eventfd(0, 0);
	if (big < 0 || sem < 0 || blocking < 0)
		fx_fail("eventfd: %s", strerror(errno));
	if (write(big, &wide, 8) != 8)
		fx_fail("write: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	if (!(fcntl(big, F_GETFL) & O_NONBLOCK) || !(fcntl(sem, F_GETFL) & O_NONBLOCK))
		fx_note_failure("a non-blocking eventfd lost O_NONBLOCK");
	if (fcntl(blocking, F_GETFL) & O_NONBLOCK)
		fx_note_failure("the blocking eventfd became non-blocking");
	if (!(fcntl(sem, F_GETFD) & FD_CLOEXEC) || (fcntl(big, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");
	uint64_t v = take(big, "the wide counter");
	if (v != wide)
		fx_note_failure("the wide counter reads %#llx, expected %#llx", (unsigned long long)v, (unsigned long long)wide);
	if (read(big, &v, 8) != -1 || errno != EAGAIN)
		fx_note_failure("the wide counter is not empty after its read");
	for (int i = 0; i < 3; i++)
		if ((v = take(sem, "the semaphore")) != 1)
			fx_note_failure("semaphore read %d gave %llu, expected 1 (EFD_SEMAPHORE lost?)", i, (unsigned long long)v);
	if (read(sem, &v, 8) != -1 || errno != EAGAIN)
		fx_note_failure("the semaphore is not at 0 after three reads");
	v = 5;
	if (write(blocking, &v, 8) != 8 || take(blocking, "the blocking counter") != 5)
		fx_note_failure("the blocking counter does not count");
	fx_finish();
}
