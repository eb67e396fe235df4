/*
 * epoll: an epoll set watching a pipe (level-triggered), an eventfd (edge-triggered), an eventfd with
 * EPOLLONESHOT that already fired, and a second epoll (nested) that watches an eventfd of its own. Every
 * registration carries distinct 64-bit data. Two registrations outlived the fd they were added with: an eventfd
 * dup'ed to another fd before its first fd was closed (the registration lives on through the dup), and an eventfd
 * that a thread blocks reading while its fd is dup2'ed over (the registration lives only as long as that read, the
 * JDK's way of closing a socket another thread waits on).
 * Verdict: each ready target is reported with its data, the fired one-shot stays silent until re-armed, the
 * nested epoll reports its own target, and the outer epoll keeps FD_CLOEXEC.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <unistd.h>

#define D_PIPE 0xdeadbeef00000001ULL
#define D_EDGE 0x1122334455667702ULL
#define D_ONESHOT 0x0000000000000003ULL
#define D_INNER 0xffffffff00000004ULL
#define D_NESTED 0x8000000000000005ULL
#define D_MOVED 0x0000000600000006ULL
#define D_INFLIGHT 0x0000000700000007ULL

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		fx_fail("epoll_ctl(ADD %d): %s", fd, strerror(errno));
}

/* Bit i set when the registration with data index i was reported. */
static unsigned reported(int ep)
{
	struct epoll_event evs[16];
	unsigned seen = 0;
	int n = epoll_wait(ep, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case D_PIPE: seen |= 1 << 1; break;
		case D_EDGE: seen |= 1 << 2; break;
		case D_ONESHOT: seen |= 1 << 3; break;
		case D_INNER: seen |= 1 << 4; break;
		case D_NESTED: seen |= 1 << 5; break;
		case D_MOVED: seen |= 1 << 6; break;
		case D_INFLIGHT: seen |= 1 << 7; break;
		default: fx_note_failure("unknown data %#llx reported", (unsigned long long)evs[i].data.u64);
		}
	}
	return seen;
}

static int inflight;
static volatile pid_t reader_tid;

/* Blocks in read() on the eventfd until main dup2's /dev/null over its fd (the read restarts on /dev/null after a
 * restore), then sleeps for good. */
static void *blocked_reader(void *arg)
{
	uint64_t v;
	(void)arg;
	reader_tid = gettid();
	(void)!read(inflight, &v, 8);
	for (;;) /* stays, so its tid is there after every cycle */
		pause();
	return NULL;
}

int main(void)
{
	int ep, inner, p[2], edge, oneshot, innerfd;
	uint64_t one = 1;

	fx_init("epoll");
	ep = epoll_create1(EPOLL_CLOEXEC);
	inner = epoll_create1(0);
	edge = eventfd(1, EFD_NONBLOCK);
	oneshot = eventfd(1, EFD_NONBLOCK);
	innerfd = eventfd(1, EFD_NONBLOCK);
	if (ep < 0 || inner < 0 || edge < 0 || oneshot < 0 || innerfd < 0 || pipe(p))
		fx_fail("setup: %s", strerror(errno));
	add(ep, p[0], EPOLLIN, D_PIPE);
	add(ep, edge, EPOLLIN | EPOLLET, D_EDGE);
	add(ep, oneshot, EPOLLIN | EPOLLONESHOT, D_ONESHOT);
	add(inner, innerfd, EPOLLIN, D_INNER);
	add(ep, inner, EPOLLIN, D_NESTED);
	int moved = eventfd(0, EFD_NONBLOCK), kept;
	if (moved < 0 || (add(ep, moved, EPOLLIN, D_MOVED), kept = dup(moved)) < 0 || close(moved))
		fx_fail("moving a registered eventfd: %s", strerror(errno));
	pthread_t reader;
	if ((inflight = eventfd(0, 0)) < 0 || (add(ep, inflight, EPOLLIN, D_INFLIGHT), pthread_create(&reader, NULL, blocked_reader, NULL)))
		fx_fail("in-flight reader: %s", strerror(errno));
	for (;;) { /* wait until the reader sleeps in read() on the eventfd: its syscall file reads "0 0x<fd> ..." */
		char path[64], st[128] = "";
		FILE *f;
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)reader_tid);
		if (reader_tid && (f = fopen(path, "r"))) {
			(void)!fgets(st, sizeof(st), f);
			fclose(f);
			char want[32];
			snprintf(want, sizeof(want), "0 0x%x ", inflight);
			if (!strncmp(st, want, strlen(want)))
				break;
		}
		fx_sleep_ms(1);
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, inflight) < 0 || close(devnull))
		fx_fail("dup2 over the in-flight eventfd: %s", strerror(errno));
	unsigned first = reported(ep); /* fires the one-shot and consumes the edge */
	if (first != ((1 << 2) | (1 << 3) | (1 << 5)))
		fx_fail("before the dump, reported set %#x", first);

	fx_ready();
	fx_wait_verify();

	if (write(p[1], "x", 1) != 1 || write(edge, &one, 8) != 8 || write(kept, &one, 8) != 8)
		fx_note_failure("cannot make the targets ready: %s", strerror(errno));
	unsigned seen = reported(ep) & ~(1u << 7); /* the in-flight one may or may not be left */
	if (seen != ((1 << 1) | (1 << 2) | (1 << 5) | (1 << 6)))
		fx_note_failure("reported set is %#x, expected pipe, edge, nested and moved (%#x)", seen,
				(1 << 1) | (1 << 2) | (1 << 5) | (1 << 6));
	seen = reported(inner);
	if (seen != (1 << 4))
		fx_note_failure("the nested epoll reports %#x, expected its eventfd", seen);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_ONESHOT};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, oneshot, &ev))
		fx_note_failure("re-arming the one-shot failed: %s (was it registered?)", strerror(errno));
	else if (!(reported(ep) & (1 << 3)))
		fx_note_failure("the re-armed one-shot is not reported");
	if (!(fcntl(ep, F_GETFD) & FD_CLOEXEC) || (fcntl(inner, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");
	fx_finish();
}
