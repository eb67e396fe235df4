/*
 * pipe: a parent and a child joined by two pipes, with bytes in flight when dumped.
 *
 * --solo: one process and one pipe instead. It writes 0,1,2,... into its own pipe every --step-ms
 * and reads them back 64 numbers behind, so the pipe always holds data. Verdict: everything read,
 * up to the last number written, came out in order.
 *
 * The parent writes numbers 0,1,2,... into pipe A every --step-ms (default 10); the child reads
 * them lazily (every 5 steps, so pipe A holds unread data), checks they are consecutive and echoes
 * each into pipe B; the parent reads the echoes back and checks them too.
 * Verdict: on SIGUSR2 the parent asks the child (SIGUSR2) and waits for it: the child exits 0 when
 * its numbers were consecutive; the parent passes when its echoes were, and the child passed.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* a child's failure goes to stderr and its exit code; only the parent writes the verdict */
static void child_fail(const char *what, unsigned got, unsigned want)
{
	fprintf(stderr, "pipe child: %s: got %u, expected %u\n", what, got, want);
	_exit(1);
}

static void child(int in, int out, long step_ms)
{
	unsigned expect = 0, value;

	for (;;) {
		fx_sleep_ms(step_ms * 5);
		if (fx_verify_requested())
			break;
		/* drain what is there now, without blocking */
		fcntl(in, F_SETFL, O_NONBLOCK);
		for (;;) {
			ssize_t n = read(in, &value, sizeof(value));

			if (n != (ssize_t)sizeof(value))
				break;
			if (value != expect)
				child_fail("read from pipe A", value, expect);
			expect++;
			if (write(out, &value, sizeof(value)) != (ssize_t)sizeof(value))
				child_fail("echo into pipe B", 0, value);
		}
	}
	_exit(expect > 0 ? 0 : 3);
}

static void solo(long step_ms)
{
	unsigned next = 0, expect = 0, value;
	int p[2];

	if (pipe(p) < 0)
		fx_fail("cannot make a pipe: %s", strerror(errno));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fx_ready();
	while (!fx_verify_requested()) {
		if (write(p[1], &next, sizeof(next)) == (ssize_t)sizeof(next))
			next++;
		if (next - expect > 64) {
			if (read(p[0], &value, sizeof(value)) != (ssize_t)sizeof(value))
				fx_fail("pipe is empty while %u numbers should be in it", next - expect);
			if (value != expect)
				fx_fail("read %u from the pipe, expected %u", value, expect);
			expect++;
		}
		fx_sleep_ms(step_ms);
	}
	while (read(p[0], &value, sizeof(value)) == (ssize_t)sizeof(value)) {
		if (value != expect)
			fx_fail("read %u from the pipe, expected %u", value, expect);
		expect++;
	}
	if (expect != next)
		fx_fail("the pipe ran dry at %u, but %u numbers were written", expect, next);
	fx_finish();
}

int main(int argc, char **argv)
{
	long step_ms = fx_opt_long(argc, argv, "step-ms", 10);
	int a[2], b[2], status;
	unsigned next = 0, echoed = 0, value;
	pid_t kid;

	fx_init("pipe");
	if (fx_opt_long(argc, argv, "solo", 0))
		solo(step_ms);
	if (pipe(a) < 0 || pipe(b) < 0)
		fx_fail("cannot make pipes: %s", strerror(errno));
	kid = fork();
	if (kid < 0)
		fx_fail("cannot fork: %s", strerror(errno));
	if (kid == 0) {
		close(a[1]);
		close(b[0]);
		child(a[0], b[1], step_ms);
	}
	close(a[0]);
	close(b[1]);
	fcntl(b[0], F_SETFL, O_NONBLOCK);
	fx_ready();
	while (!fx_verify_requested()) {
		if (write(a[1], &next, sizeof(next)) == (ssize_t)sizeof(next))
			next++;
		while (read(b[0], &value, sizeof(value)) == (ssize_t)sizeof(value)) {
			if (value != echoed)
				fx_fail("parent read echo %u from pipe B, expected %u", value, echoed);
			echoed++;
		}
		fx_sleep_ms(step_ms);
	}
	kill(kid, SIGUSR2);
	while (waitpid(kid, &status, 0) < 0)
		if (errno != EINTR)
			fx_fail("cannot wait for child %d: %s", kid, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fx_fail("child %d failed (status %#x)", kid, status);
	if (echoed == 0)
		fx_fail("no echo ever came back");
	fx_pass();
}
