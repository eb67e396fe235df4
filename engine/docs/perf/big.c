            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <unistd.h>
            static volatile sig_atomic_t go;
            static void on_usr1(int s) { (void)s; go = 1; }
            int main(int argc, char **argv) {
                long pages = atol(argv[1]) * 256;
                unsigned char *a = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < pages; i++) memset(a + i * 4096, (int)(i * 131 + 7), 4096);
                signal(SIGUSR1, on_usr1);
                printf("ready\n"); fflush(stdout);
                unsigned long long s = 88172645463325252ULL; long round = 0;
                for (;;) {
                    pause();
                    if (!go) continue;
                    go = 0; round++;
                    for (long n = 0; n < pages / 100; n++) { /* 1% of the pages, each written once or more */
                        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                        a[(s % pages) * 4096 + (n % 4096)] += (unsigned char)round;
                    }
                    printf("wrote %ld\n", round); fflush(stdout);
                }
            }
            