/* Unix sockets of every shape with queues both ways and fds in flight; after "go" appears, checks all and prints PASS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
static int fails;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL "); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)
static void put(int fd, const char *s) { if (send(fd, s, strlen(s), MSG_DONTWAIT) != (ssize_t)strlen(s)) { printf("FAIL send %s\n", strerror(errno)); exit(1); } }
static void expect(int fd, const char *s, const char *what) {
    char b[256] = {0};
    ssize_t n = recv(fd, b, sizeof(b) - 1, MSG_DONTWAIT);
    CHECK(n == (ssize_t)strlen(s) && memcmp(b, s, n) == 0, "%s: got %zd '%s' wanted '%s' (%s)", what, n, n > 0 ? b : "", s, n < 0 ? strerror(errno) : "");
}
static struct sockaddr_un at(const char *p) { struct sockaddr_un a = { .sun_family = AF_UNIX }; strcpy(a.sun_path, p); return a; }
int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = argv[1];
    char lpath[200], rpath[200], fpath[200];
    snprintf(lpath, sizeof lpath, "%s/listen.sock", dir);
    snprintf(rpath, sizeof rpath, "%s/recv.sock", dir);
    snprintf(fpath, sizeof fpath, "%s/passed.txt", dir);
    int sp[2], dp[2], ep[2], pp[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dp);
    socketpair(AF_UNIX, SOCK_STREAM, 0, ep);
    put(sp[0], "hello-from-a");
    put(sp[1], "hello-from-b");
    put(dp[0], "d1"); put(dp[0], "d22"); put(dp[0], "d333");
    put(dp[1], "c1"); put(dp[1], "c22");
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un la = at(lpath);
    unlink(lpath);
    if (bind(l, (void *)&la, sizeof la) || listen(l, 7)) { printf("FAIL listen %s\n", strerror(errno)); return 1; }
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(cl, (void *)&la, sizeof la)) { printf("FAIL connect %s\n", strerror(errno)); return 1; }
    int ac = accept(l, NULL, NULL);
    put(cl, "to-server");
    put(ac, "to-client");
    int r = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ra = at(rpath);
    unlink(rpath);
    bind(r, (void *)&ra, sizeof ra);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (connect(s, (void *)&ra, sizeof ra)) { printf("FAIL connect dgram %s\n", strerror(errno)); return 1; }
    put(s, "one-way-1"); put(s, "one-way-2");
    /* descriptors in flight: a pipe holding bytes, a regular file, a socket */
    pipe(pp);
    write(pp[1], "pipe-data", 9);
    int f = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(f, "file-data", 9);
    lseek(f, 5, SEEK_SET);
    {
        int fds[3] = { pp[0], f, dp[0] };
        char c[CMSG_SPACE(sizeof fds)];
        struct iovec io = { .iov_base = "with-fds", .iov_len = 8 };
        struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(sizeof fds);
        memcpy(CMSG_DATA(h), fds, sizeof fds);
        if (sendmsg(ep[0], &m, 0) != 8) { printf("FAIL sendmsg %s\n", strerror(errno)); return 1; }
        put(ep[0], "after-fds");
    }
    printf("ready\n");
    while (access("go", F_OK) != 0)
        usleep(1000);
    expect(sp[1], "hello-from-a", "socketpair a->b");
    expect(sp[0], "hello-from-b", "socketpair b->a");
    expect(dp[1], "d1", "dgram 1"); expect(dp[1], "d22", "dgram 2"); expect(dp[1], "d333", "dgram 3");
    expect(dp[0], "c1", "dgram back 1"); expect(dp[0], "c22", "dgram back 2");
    expect(ac, "to-server", "accepted");
    expect(cl, "to-client", "client");
    expect(r, "one-way-1", "one-way 1"); expect(r, "one-way-2", "one-way 2");
    {
        struct sockaddr_un n; socklen_t len = sizeof n;
        getsockname(ac, (void *)&n, &len);
        CHECK(strcmp(n.sun_path, lpath) == 0, "accepted socket name %s", n.sun_path);
        len = sizeof n;
        getpeername(cl, (void *)&n, &len);
        CHECK(strcmp(n.sun_path, lpath) == 0, "client peer name %s", n.sun_path);
        int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(connect(c2, (void *)&la, sizeof la) == 0, "listener takes new connections: %s", strerror(errno));
        int a2 = accept(l, NULL, NULL);
        put(c2, "new"); expect(a2, "new", "new connection");
    }
    {
        int fds[3] = { -1, -1, -1 };
        char c[CMSG_SPACE(sizeof fds)], b[64] = {0};
        struct iovec io = { .iov_base = b, .iov_len = 8 };
        struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c };
        ssize_t n = recvmsg(ep[1], &m, MSG_DONTWAIT);
        CHECK(n == 8 && memcmp(b, "with-fds", 8) == 0, "message with fds: %zd '%s'", n, b);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        CHECK(h && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof fds), "SCM_RIGHTS arrived");
        if (h) memcpy(fds, CMSG_DATA(h), sizeof fds);
        char got[32] = {0};
        CHECK(read(fds[0], got, 9) == 9 && memcmp(got, "pipe-data", 9) == 0, "passed pipe reads '%s'", got);
        memset(got, 0, sizeof got);
        CHECK(read(fds[1], got, 4) == 4 && memcmp(got, "data", 4) == 0, "passed file reads '%s' at its offset", got);
        CHECK(lseek(f, 0, SEEK_CUR) == 9, "passed file shares the offset");
        put(fds[2], "via-passed");
        expect(dp[1], "via-passed", "passed socket is the pair's end");
        expect(ep[1], "after-fds", "bytes after the fds");
    }
    put(sp[0], "still"); expect(sp[1], "still", "socketpair keeps working");
    printf(fails ? "FAILED %d\n" : "PASS\n", fails);
    while (1) pause();
}
