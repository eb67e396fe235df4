package dev.cryo.engine.testing;

/** Self-checking C programs: each prints one numbered line per round, saying whether its own state is intact. */
public final class Programs {
    private Programs() {
    }

    /** Heap (brk and mmap'd malloc), anonymous mmap with holes, a private file mapping with one copied page,
     *  a read-only and a PROT_NONE region with contents. argv[1]: a 4-page file whose byte i is (i * 3) & 0xff. */
    public static final String MEMORY = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <fcntl.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #define PG 4096
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                size_t bign = 3 << 20;
                unsigned char *big = malloc(bign);
                unsigned char *small = malloc(1000);
                for (size_t i = 0; i < bign; i++) big[i] = (unsigned char)(i * 7);
                for (size_t i = 0; i < 1000; i++) small[i] = (unsigned char)(i * 11);
                size_t an = 64 * PG;
                unsigned char *anon = mmap(NULL, an, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (size_t p = 0; p < 64; p += 2) memset(anon + p * PG, (int)(p + 1), PG);
                int fd = open(argv[1], O_RDONLY);
                unsigned char *file = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
                close(fd);
                memset(file + PG, 0xab, PG);
                unsigned char *ro = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                memset(ro, 0x5a, 2 * PG);
                mprotect(ro, 2 * PG, PROT_READ);
                unsigned char *none = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                memset(none, 0x77, PG);
                mprotect(none, PG, PROT_NONE);
                for (int n = 0;; n++) {
                    int ok = 1;
                    for (size_t i = 0; i < bign; i++) ok &= big[i] == (unsigned char)(i * 7);
                    for (size_t i = 0; i < 1000; i++) ok &= small[i] == (unsigned char)(i * 11);
                    for (size_t p = 0; p < 64; p++)
                        for (size_t i = 0; i < PG; i++) ok &= anon[p * PG + i] == (p % 2 ? 0 : (unsigned char)(p + 1));
                    for (size_t i = 0; i < 4 * PG; i++)
                        ok &= file[i] == (i / PG == 1 ? 0xab : (unsigned char)(i * 3));
                    for (size_t i = 0; i < 2 * PG; i++) ok &= ro[i] == 0x5a;
                    mprotect(none, PG, PROT_READ);
                    for (size_t i = 0; i < PG; i++) ok &= none[i] == 0x77;
                    mprotect(none, PG, PROT_NONE);
                    printf("%d %s\\n", n, ok ? "ok" : "BAD");
                    usleep(5000);
                }
            }
            """;

    /** SIGUSR1 handled (SA_RESTART); SIGUSR2 handled but blocked and pending from the start, unblocked when the
     *  file "unblock" appears in the cwd. */
    public static final String SIGNALS = """
            #include <signal.h>
            #include <stdio.h>
            #include <unistd.h>
            static volatile sig_atomic_t usr1, usr2;
            static void on_usr1(int s) { usr1++; }
            static void on_usr2(int s) { usr2++; }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct sigaction a = {0};
                a.sa_handler = on_usr1;
                a.sa_flags = SA_RESTART;
                sigaction(SIGUSR1, &a, NULL);
                a.sa_handler = on_usr2;
                a.sa_flags = 0;
                sigaction(SIGUSR2, &a, NULL);
                signal(SIGHUP, SIG_IGN);
                sigset_t s;
                sigemptyset(&s);
                sigaddset(&s, SIGUSR2);
                sigprocmask(SIG_BLOCK, &s, NULL);
                raise(SIGUSR2);
                int unblocked = 0;
                for (int n = 0;; n++) {
                    if (!unblocked && access("unblock", F_OK) == 0) {
                        sigprocmask(SIG_UNBLOCK, &s, NULL);
                        unblocked = 1;
                    }
                    printf("%d usr1=%d usr2=%d\\n", n, (int)usr1, (int)usr2);
                    usleep(5000);
                }
            }
            """;

    /** Blocked in read() on its own pipe; SIGUSR1's handler writes one byte into it. A second pipe holds
     *  "abcdef" from the start, read three bytes per wake-up. */
    public static final String PIPE = """
            #include <signal.h>
            #include <stdio.h>
            #include <unistd.h>
            static int wake[2];
            static void on_usr1(int s) { write(wake[1], "x", 1); }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                int data[2];
                pipe(wake);
                pipe(data);
                write(data[1], "abcdef", 6);
                struct sigaction a = {0};
                a.sa_handler = on_usr1;
                a.sa_flags = SA_RESTART;
                sigaction(SIGUSR1, &a, NULL);
                printf("ready\\n");
                for (int n = 0;; n++) {
                    char c, buf[4] = {0};
                    if (read(wake[0], &c, 1) != 1) { printf("read failed\\n"); return 1; }
                    read(data[0], buf, 3);
                    printf("%d %c %s\\n", n, c, buf);
                }
            }
            """;

    /** Sleeps in one long nanosleep per round; prints before and after. */
    public static final String LONG_SLEEP = """
            #include <stdio.h>
            #include <time.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                for (int n = 0;; n++) {
                    printf("%d\\n", n);
                    struct timespec t = {0, 300 * 1000 * 1000};
                    nanosleep(&t, NULL);
                }
            }
            """;

    /** Files: an O_APPEND log, a read-write file at an offset, an O_CLOEXEC read-only file, a directory fd. */
    public static final String FILES = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            #include <string.h>
            #include <sys/resource.h>
            #include <sys/stat.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                umask(027);
                struct rlimit r = {1000, 2000};
                setrlimit(RLIMIT_NOFILE, &r);
                int app = open("append.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
                int rw = open("rw.dat", O_RDWR | O_CREAT, 0644);
                write(rw, "0123456789", 10);
                lseek(rw, 4, SEEK_SET);
                int ro = open("rw.dat", O_RDONLY | O_CLOEXEC);
                lseek(ro, 2, SEEK_SET);
                int dir = open(".", O_RDONLY | O_DIRECTORY);
                dup2(rw, 9);
                for (int n = 0;; n++) {
                    dprintf(app, "%d\\n", n);
                    char c;
                    off_t at = lseek(ro, 0, SEEK_CUR);
                    pread(ro, &c, 1, at);
                    printf("%d ro@%ld=%c rw@%ld dir=%d\\n", n, (long)at, c, (long)lseek(rw, 0, SEEK_CUR), dir);
                    usleep(5000);
                }
            }
            """;

    /** Many kinds of state at once, then blocked in read() on its own pipe: its registers stay put. */
    public static final String STATE = """
            #include <fcntl.h>
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #include <sys/resource.h>
            #include <sys/stat.h>
            static int wake[2];
            static void on_usr1(int s) { write(wake[1], "x", 1); }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                umask(027);
                struct rlimit r = {1000, 2000};
                setrlimit(RLIMIT_NOFILE, &r);
                r.rlim_cur = 4 << 20; r.rlim_max = RLIM_INFINITY;
                setrlimit(RLIMIT_STACK, &r);
                int app = open("append.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
                int rw = open("rw.dat", O_RDWR | O_CREAT, 0644);
                write(rw, "0123456789", 10);
                lseek(rw, 4, SEEK_SET);
                int ro = open("rw.dat", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                lseek(ro, 2, SEEK_SET);
                dup2(rw, 12);
                pipe(wake);
                char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (int i = 0; i < (1 << 20); i += 8192) m[i] = 1;
                void *p = malloc(100000);
                struct sigaction a = {0};
                a.sa_handler = on_usr1;
                a.sa_flags = SA_RESTART | SA_NODEFER;
                sigaddset(&a.sa_mask, SIGTERM);
                sigaction(SIGUSR1, &a, NULL);
                signal(SIGHUP, SIG_IGN);
                sigset_t s;
                sigemptyset(&s);
                sigaddset(&s, SIGUSR2);
                sigaddset(&s, SIGRTMIN + 3);
                sigprocmask(SIG_BLOCK, &s, NULL);
                asm volatile("movq $0x1234567890abcdef, %%rax; movq %%rax, %%xmm7" ::: "rax", "xmm7");
                printf("ready %p %p\\n", m, p);
                for (int n = 0;; n++) {
                    char c;
                    read(wake[0], &c, 1);
                    printf("%d\\n", n);
                }
            }
            """;
}
