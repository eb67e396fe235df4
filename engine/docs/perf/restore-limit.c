/* The machine's limits for a restore of 1 GiB from tmpfs: each line puts the 1 GiB of /dev/shm/h-restore/pages.img
 * (made on first run) into a fresh 1 GiB anonymous mapping of a child, the way a restore does.
 * gcc -O2 -pthread -o restore-limit restore-limit.c && ./restore-limit [rounds] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <signal.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#define SZ (1UL << 30)
#define BUF (1UL << 20)
#define DST ((char *)0x200000000000UL)
static const char *IMG = "/dev/shm/h-restore/pages.img";
static pid_t child; static int uffd, img, threads, mode; /* mode 0: pread + process_vm_writev, 1: pread + UFFDIO_COPY */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void spawn(int reg_uffd) { /* a child with 1 GiB of empty anonymous memory and a userfaultfd, which we take */
    int p[2]; if (pipe(p)) exit(1);
    if (!(child = fork())) {
        if (mmap(DST, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != DST) _exit(1);
        int u = syscall(SYS_userfaultfd, O_CLOEXEC); if (write(p[1], &u, sizeof u) != sizeof u) _exit(1); pause(); _exit(0);
    }
    int u; if (read(p[0], &u, sizeof u) != sizeof u) exit(1);
    int pfd = syscall(SYS_pidfd_open, child, 0); uffd = syscall(SYS_pidfd_getfd, pfd, u, 0); close(pfd); close(p[0]); close(p[1]);
    struct uffdio_api api = {.api = UFFD_API}; ioctl(uffd, UFFDIO_API, &api);
    struct uffdio_register reg = {.range = {(unsigned long)DST, SZ}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    /* registered only for UFFDIO_COPY: process_vm_writev into a missing page of a registered range would wait for us */
    if (reg_uffd && ioctl(uffd, UFFDIO_REGISTER, &reg)) perror("UFFDIO_REGISTER");
}
static void reap(void) { kill(child, 9); waitpid(child, 0, 0); close(uffd); }
static void *share(void *arg) {
    long i = (long)arg; size_t from = SZ / threads * i, to = from + SZ / threads;
    char *buf = aligned_alloc(4096, BUF); memset(buf, 0, BUF);
    for (size_t o = from; o < to; o += BUF) {
        if (pread(img, buf, BUF, o) != (ssize_t)BUF) { perror("pread"); break; }
        if (mode == 0) { struct iovec l = {buf, BUF}, r = {DST + o, BUF}; if (process_vm_writev(child, &l, 1, &r, 1, 0) != (ssize_t)BUF) perror("writev"); }
        else { struct uffdio_copy c = {.dst = (unsigned long)DST + o, .src = (unsigned long)buf, .len = BUF, .mode = UFFDIO_COPY_MODE_DONTWAKE};
               if (ioctl(uffd, UFFDIO_COPY, &c)) { perror("UFFDIO_COPY"); break; } }
    }
    free(buf); return 0;
}
static double fill(int m, int n) {
    mode = m; threads = n; spawn(m == 1); pthread_t t[2]; double s = now();
    for (long i = 0; i < n; i++) pthread_create(&t[i], 0, share, (void *)i);
    for (int i = 0; i < n; i++) pthread_join(t[i], 0);
    double d = now() - s; reap(); return d;
}
int main(int argc, char **argv) {
    img = open(IMG, O_RDWR | O_CREAT, 0644); struct stat st; fstat(img, &st);
    if ((size_t)st.st_size != SZ) { char *b = malloc(BUF); for (size_t o = 0; o < SZ; o += BUF) { for (size_t i = 0; i < BUF; i += 4096) memset(b + i, (int)((o + i) >> 12) * 131 + 7, 4096); if (write(img, b, BUF) != (ssize_t)BUF) return 1; } free(b); }
    for (int r = 0; r < (argc > 1 ? atoi(argv[1]) : 1); r++) {
        /* the copy alone: process_vm_writev from a mapping of the image into pages already there */
        threads = 1; spawn(0); char *src = mmap(0, SZ, PROT_READ, MAP_SHARED | MAP_POPULATE, img, 0);
        struct iovec l = {src, SZ}, rv = {DST, SZ};
        process_vm_writev(child, &l, 1, &rv, 1, 0); double s = now(); process_vm_writev(child, &l, 1, &rv, 1, 0); double copy = now() - s; munmap(src, SZ); reap();
        double w1 = fill(0, 1), u1 = fill(1, 1), u2 = fill(1, 2);
        char *b = calloc(1, BUF); int o = open("/dev/shm/h-restore/dd.img", O_CREAT | O_WRONLY | O_TRUNC, 0644); s = now();
        for (size_t q = 0; q < SZ; q += BUF) if (write(o, b, BUF) != (ssize_t)BUF) break;
        close(o); double dd = now() - s; unlink("/dev/shm/h-restore/dd.img"); free(b);
        printf("writev into present pages %.3f | pread+writev into fresh %.3f | pread+UFFDIO_COPY x1 %.3f x2 %.3f | dd to tmpfs %.3f s\n", copy, w1, u1, u2, dd);
    }
}
