/*
 * counter: the walk-through's counting loop, `sleep(1); printf("%d\n", i); i++;`, made self-checking.
 *
 * Output buffering is a choice (--buffer):
 *   full  (default, as in the walk-through): stdout to a file is fully buffered, so numbers reach the
 *         file in 4 KiB bursts and at the verdict. The unwritten numbers live in the stdio buffer in
 *         the process's memory: a correct restore keeps them, so the file is still 0,1,2,... in the end.
 *   line  every number reaches the file at once: the harness watches the count grow after a restore.
 * --step-ms=N replaces sleep(1) by an N ms sleep (the fast variant uses 10).
 * Verdict: the process still has the pid it started with, and the count never went backwards.
 */
#include "fx.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* static, so stdio never allocates after the ready marker: the memory map stays what was dumped */
static char outbuf[BUFSIZ];

int main(int argc, char **argv)
{
	const char *buffer = fx_opt_str(argc, argv, "buffer", "full");
	long step_ms = fx_opt_long(argc, argv, "step-ms", 1000);
	pid_t pid = getpid();
	int i = 0, last = -1;

	fx_init("counter");
	setvbuf(stdout, outbuf, strcmp(buffer, "line") ? _IOFBF : _IOLBF, sizeof(outbuf));
	fx_ready();
	while (!fx_verify_requested()) {
		if (step_ms == 1000)
			sleep(1);
		else
			fx_sleep_ms(step_ms);
		printf("%d\n", i);
		if (i != last + 1)
			fx_note_failure("count went from %d to %d", last, i);
		last = i;
		i++;
	}
	if (fflush(stdout) != 0)
		fx_note_failure("cannot flush the counted numbers to stdout");
	if (getpid() != pid)
		fx_note_failure("started as pid %d, now pid %d", pid, getpid());
	fx_finish();
}
