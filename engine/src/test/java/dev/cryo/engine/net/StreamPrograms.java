package dev.cryo.engine.net;

/** C programs of the socket tests; each checks the bytes it receives and reports its counts. */
final class StreamPrograms {
    private StreamPrograms() {
    }

    /** What both programs share: the headers and one turn of the checked exchange ({@code step}). */
    private static final String EXCHANGE = """
            #include <arpa/inet.h>
            #include <errno.h>
            #include <fcntl.h>
            #include <netinet/in.h>
            #include <netinet/tcp.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static char buf[65536];
            static unsigned long long sent, recvd;
            static int idle;
            /* one turn of the exchange: while "go" exists write i % 251 and check what comes back; 1 on failure */
            static int step(int fd) {
                if (access("go", F_OK) == 0) {
                    if (idle)
                        printf("go\\n");
                    idle = 0;
                    for (int i = 0; i < 4096; i++)
                        buf[i] = (char)((sent + i) % 251);
                    ssize_t n = write(fd, buf, 4096);
                    if (n > 0)
                        sent += n;
                    else if (errno != EAGAIN) { printf("FAIL write %s\\n", strerror(errno)); return 1; }
                    n = read(fd, buf, sizeof(buf));
                    if (n == 0) { printf("FAIL end of stream after %llu\\n", recvd); return 1; }
                    if (n < 0 && errno != EAGAIN) { printf("FAIL read %s\\n", strerror(errno)); return 1; }
                    for (ssize_t i = 0; i < n; i++)
                        if ((unsigned char)buf[i] != (recvd + i) % 251) { printf("FAIL byte %llu\\n", recvd + i); return 1; }
                    if (n > 0)
                        recvd += n;
                } else if (!idle) {
                    int nd = 0, ka = 0; socklen_t l = sizeof(int);
                    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nd, &l);
                    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &ka, &l);
                    printf("idle sent=%llu recvd=%llu nodelay=%d keepalive=%d\\n", sent, recvd, nd, ka);
                    idle = 1;
                }
                return 0;
            }
            """;

    /**
     * Connects to [::1] or 127.0.0.1 (argv[2] "6" or "4") port argv[1]. While the file "go" exists it writes the
     * byte sequence i % 251 and reads and checks the same sequence from the peer; when "go" goes it stops and prints
     * "idle sent=S recvd=R nodelay=N keepalive=K". Prints "FAIL ..." and exits 1 on a wrong byte or a broken stream.
     */
    static final String STREAM = EXCHANGE + """
            int main(int argc, char **argv) {
                int port = atoi(argv[1]), v6 = argc > 2 && argv[2][0] == '6';
                int one = 1, fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
                setvbuf(stdout, NULL, _IONBF, 0);
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                if (v6) {
                    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
                    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) { printf("FAIL connect %s\\n", strerror(errno)); return 1; }
                } else {
                    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
                    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) { printf("FAIL connect %s\\n", strerror(errno)); return 1; }
                }
                fcntl(fd, F_SETFL, O_NONBLOCK);
                printf("connected\\n");
                for (;;) {
                    if (step(fd))
                        return 1;
                    usleep(500);
                }
            }
            """;
    /**
     * The server side of {@link #STREAM}: listens on an ephemeral port of 127.0.0.1 or [::1] (argv[1] "4" or "6"),
     * writes the port to the file "port", accepts one connection and exchanges on it as STREAM does. It keeps
     * the listener and prints "accepted another" for each later connection.
     */
    static final String SERVER = EXCHANGE + """
            int main(int argc, char **argv) {
                int v6 = argc > 1 && argv[1][0] == '6';
                int one = 1, l = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), fd;
                setvbuf(stdout, NULL, _IONBF, 0);
                setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (v6) {
                    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
                    if (bind(l, (struct sockaddr *)&a, sizeof(a))) { printf("FAIL bind %s\\n", strerror(errno)); return 1; }
                } else {
                    struct sockaddr_in a = { .sin_family = AF_INET };
                    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    if (bind(l, (struct sockaddr *)&a, sizeof(a))) { printf("FAIL bind %s\\n", strerror(errno)); return 1; }
                }
                listen(l, 4);
                struct sockaddr_in6 me; socklen_t ml = sizeof(me);
                getsockname(l, (struct sockaddr *)&me, &ml);
                FILE *pf = fopen("port.tmp", "w");
                fprintf(pf, "%d\\n", ntohs(me.sin6_port));
                fclose(pf);
                rename("port.tmp", "port");
                fd = accept(l, NULL, NULL);
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                fcntl(l, F_SETFL, O_NONBLOCK);
                fcntl(fd, F_SETFL, O_NONBLOCK);
                printf("connected\\n");
                for (;;) {
                    if (step(fd))
                        return 1;
                    int extra = accept(l, NULL, NULL);
                    if (extra >= 0) {
                        printf("accepted another\\n");
                        close(extra);
                    }
                    usleep(500);
                }
            }
            """;
}
