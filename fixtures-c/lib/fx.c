/* fx: ready marker, verdict request and PASS/FAIL reporting for fixtures (see fx.h). */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *fx_name = "fixture";
static volatile sig_atomic_t verify_asked;
static volatile sig_atomic_t command_waiting;
static char first_failure[512];

static void on_verify(int sig) { (void)sig; verify_asked = 1; }
static void on_command(int sig) { (void)sig; command_waiting = 1; }

void fx_init(const char *name)
{
	struct sigaction sa;

	fx_name = name;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_verify;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_command;
	sigaction(SIGUSR1, &sa, NULL);
}

/* Writes text to path through a temporary file and rename, so a reader never sees half of it. */
static int write_atomically(const char *path, const char *text)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd;

	if (!path || !*path)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

void fx_ready(void)
{
	char line[64];

	snprintf(line, sizeof(line), "%d\n", getpid());
	if (write_atomically(getenv("CRYO_FX_READY"), line) < 0) {
		fprintf(stderr, "%s: cannot write ready marker: %s\n", fx_name, strerror(errno));
		exit(2);
	}
}

int fx_verify_requested(void) { return verify_asked; }

/*
 * SIGUSR2 stays blocked outside sigsuspend: one that came between the test of verify_asked and the call would
 * run its handler there and leave sigsuspend waiting for a second that never comes. A restored fixture meets that
 * window more than most: its sigsuspend returns EINTR at once, as the harness sends the verdict signal.
 */
void fx_wait_verify(void)
{
	sigset_t usr2, old, mask;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, &old);
	mask = old;
	sigdelset(&mask, SIGUSR2);
	while (!verify_asked)
		sigsuspend(&mask);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int fx_command_pending(void)
{
	if (!command_waiting)
		return 0;
	command_waiting = 0;
	return 1;
}

long fx_take_command(char *buf, size_t len)
{
	const char *path = getenv("CRYO_FX_CMD");
	long seq = -1;
	char *nl, *rest;
	FILE *f;

	if (!path || !(f = fopen(path, "re")))
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if ((nl = strchr(buf, '\n')))
		*nl = '\0';
	/* a command line is "<seq> <verb> <args...>" */
	seq = strtol(buf, &rest, 10);
	while (*rest == ' ')
		rest++;
	memmove(buf, rest, strlen(rest) + 1);
	return seq;
}

void fx_ack_command(long seq)
{
	char line[64];

	snprintf(line, sizeof(line), "%ld\n", seq);
	write_atomically(getenv("CRYO_FX_ACK"), line);
}

static void verdict(const char *text, int code) __attribute__((noreturn));
static void verdict(const char *text, int code)
{
	fprintf(stderr, "%s: %s", fx_name, text);
	if (write_atomically(getenv("CRYO_FX_RESULT"), text) < 0)
		fprintf(stderr, "%s: cannot write verdict: %s\n", fx_name, strerror(errno));
	exit(code);
}

void fx_pass(void)
{
	verdict("PASS\n", 0);
}

void fx_fail(const char *fmt, ...)
{
	char msg[600], line[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "FAIL: %s\n", msg);
	verdict(line, 1);
}

void fx_note_failure(const char *fmt, ...)
{
	va_list ap;

	if (first_failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
	va_end(ap);
	if (!first_failure[0])
		strcpy(first_failure, "unnamed failure");
}

int fx_failed(void) { return first_failure[0] != '\0'; }

void fx_finish(void)
{
	if (fx_failed())
		fx_fail("%s", first_failure);
	fx_pass();
}

void fx_sleep_ms(long ms)
{
	struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&left, &left) < 0) {
		if (errno != EINTR) {
			fx_note_failure("nanosleep failed: %s (errno %d)", strerror(errno), errno);
			return;
		}
		if (verify_asked)
			return;
	}
}

unsigned long long fx_rand(unsigned long long *state)
{
	unsigned long long x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

const char *fx_opt_str(int argc, char **argv, const char *key, const char *def)
{
	size_t klen = strlen(key);

	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, key, klen) && argv[i][2 + klen] == '=')
			return argv[i] + 3 + klen;
	return def;
}

long fx_opt_long(int argc, char **argv, const char *key, long def)
{
	const char *v = fx_opt_str(argc, argv, key, NULL);

	return v ? strtol(v, NULL, 0) : def;
}

int fx_children_passed(const pid_t *kids, int n)
{
	int ok = 1, status;

	for (int i = 0; i < n; i++)
		kill(kids[i], SIGUSR2);
	for (int i = 0; i < n; i++) {
		while (waitpid(kids[i], &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "%s: cannot wait for %d\n", fx_name, kids[i]);
				return 0;
			}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	return ok;
}
