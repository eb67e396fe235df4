/*
 * epoll: an epoll set watching a pipe (level-triggered), an eventfd (edge-triggered), an eventfd with
 * EPOLLONESHOT that already fired, and a second epoll (nested) that watches an eventfd of its own. Every
 * registration carries distinct 64-bit data.
 * Verdict: each ready target is reported with its data, the fired one-shot stays silent until re-armed, the
 * nested epoll reports its own target, and the outer epoll keeps FD_CLOEXEC.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define D_PIPE 0xdeadbeef00000001ULL
#define D_EDGE 0x1122334455667702ULL
#define D_ONESHOT 0x0000000000000003ULL
#define D_INNER 0xffffffff00000004ULL
#define D_NESTED 0x8000000000000005ULL

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
		default: fx_note_failure("unknown data %#llx reported", (unsigned long long)evs[i].data.u64);
		}
	}
	return seen;
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
	unsigned first = reported(ep); /* fires the one-shot and consumes the edge */
	if (first != ((1 << 2) | (1 << 3) | (1 << 5)))
		fx_fail("before the dump, reported set %#x", first);

	fx_ready();
	fx_wait_verify();

	if (write(p[1], "x", 1) != 1 || write(edge, &one, 8) != 8)
		fx_note_failure("cannot make the targets ready: %s", strerror(errno));
	unsigned seen = reported(ep);
	if (seen != ((1 << 1) | (1 << 2) | (1 << 5)))
		fx_note_failure("reported set is %#x, expected pipe, edge and nested (%#x)", seen,
				(1 << 1) | (1 << 2) | (1 << 5));
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
