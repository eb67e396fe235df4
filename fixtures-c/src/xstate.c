/*
 * xstate: threads that keep values in the extended registers across a dump and restore.
 *
 * Each thread loads its own pattern into registers a C compiler leaves alone, then spins checking them:
 * with AVX-512, zmm8-zmm31 whole (their upper halves and zmm16-31 live in the ZMM_Hi256 and Hi16_ZMM parts of
 * the xsave area) and the opmask registers k1-k7; without it, ymm8-ymm15 (the AVX part). A freeze stops a thread
 * in the middle of that loop, so its registers are live state the dump must save and the restore put back, at
 * the offsets this CPU's xsave layout gives (AMD and Intel place AVX-512 differently). A changed register fails
 * the thread's check. glibc's string functions keep data in these registers too: a lost one is lost memory.
 *
 * Options: --threads=N spinners (default 3).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

enum { PATTERN = 1536 + 16 };

static volatile int stop;

/* the end of each spinner's loop: check again until the verdict stops it (0), or leave at a change (label 2: 1) */
#define SPIN_UNTIL_STOPPED \
        "pause\n\t" \
        "cmpl $0, (%2)\n\t" \
        "je 1b\n\t" \
        "xor %0, %0\n\t" \
        "jmp 3f\n\t" \
        "2:\n\t" \
        "mov $1, %0\n\t" \
        "3:\n\t"

struct spinner {
    pthread_t thread;
    int index;
    int wide; /* 1: AVX-512, 0: AVX2 */
    int bad;
    unsigned char pattern[PATTERN] __attribute__((aligned(64)));
};

__attribute__((target("avx512f"), noinline))
static int spin512(const unsigned char *p, volatile int *stop_flag) {
    int bad;
    __asm__ volatile(
        "vmovdqu64 0(%1), %%zmm8\n\t"
        "vmovdqu64 64(%1), %%zmm9\n\t"
        "vmovdqu64 128(%1), %%zmm10\n\t"
        "vmovdqu64 192(%1), %%zmm11\n\t"
        "vmovdqu64 256(%1), %%zmm12\n\t"
        "vmovdqu64 320(%1), %%zmm13\n\t"
        "vmovdqu64 384(%1), %%zmm14\n\t"
        "vmovdqu64 448(%1), %%zmm15\n\t"
        "vmovdqu64 512(%1), %%zmm16\n\t"
        "vmovdqu64 576(%1), %%zmm17\n\t"
        "vmovdqu64 640(%1), %%zmm18\n\t"
        "vmovdqu64 704(%1), %%zmm19\n\t"
        "vmovdqu64 768(%1), %%zmm20\n\t"
        "vmovdqu64 832(%1), %%zmm21\n\t"
        "vmovdqu64 896(%1), %%zmm22\n\t"
        "vmovdqu64 960(%1), %%zmm23\n\t"
        "vmovdqu64 1024(%1), %%zmm24\n\t"
        "vmovdqu64 1088(%1), %%zmm25\n\t"
        "vmovdqu64 1152(%1), %%zmm26\n\t"
        "vmovdqu64 1216(%1), %%zmm27\n\t"
        "vmovdqu64 1280(%1), %%zmm28\n\t"
        "vmovdqu64 1344(%1), %%zmm29\n\t"
        "vmovdqu64 1408(%1), %%zmm30\n\t"
        "vmovdqu64 1472(%1), %%zmm31\n\t"
        "kmovw 1536(%1), %%k1\n\t"
        "kmovw 1538(%1), %%k2\n\t"
        "kmovw 1540(%1), %%k3\n\t"
        "kmovw 1542(%1), %%k4\n\t"
        "kmovw 1544(%1), %%k5\n\t"
        "kmovw 1546(%1), %%k6\n\t"
        "kmovw 1548(%1), %%k7\n\t"
        "1:\n\t"
        "vpcmpeqq 0(%1), %%zmm8, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 64(%1), %%zmm9, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 128(%1), %%zmm10, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 192(%1), %%zmm11, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 256(%1), %%zmm12, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 320(%1), %%zmm13, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 384(%1), %%zmm14, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 448(%1), %%zmm15, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 512(%1), %%zmm16, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 576(%1), %%zmm17, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 640(%1), %%zmm18, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 704(%1), %%zmm19, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 768(%1), %%zmm20, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 832(%1), %%zmm21, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 896(%1), %%zmm22, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 960(%1), %%zmm23, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1024(%1), %%zmm24, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1088(%1), %%zmm25, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1152(%1), %%zmm26, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1216(%1), %%zmm27, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1280(%1), %%zmm28, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1344(%1), %%zmm29, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1408(%1), %%zmm30, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 1472(%1), %%zmm31, %%k0\n\t"
        "kmovw %%k0, %%eax\n\t"
        "cmp $0xff, %%eax\n\t"
        "jne 2f\n\t"
        "kmovw %%k1, %%eax\n\t"
        "cmpw 1536(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k2, %%eax\n\t"
        "cmpw 1538(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k3, %%eax\n\t"
        "cmpw 1540(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k4, %%eax\n\t"
        "cmpw 1542(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k5, %%eax\n\t"
        "cmpw 1544(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k6, %%eax\n\t"
        "cmpw 1546(%1), %%ax\n\t"
        "jne 2f\n\t"
        "kmovw %%k7, %%eax\n\t"
        "cmpw 1548(%1), %%ax\n\t"
        "jne 2f\n\t"
        SPIN_UNTIL_STOPPED
        : "=&a"(bad) : "r"(p), "r"(stop_flag)
        : "memory", "cc", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
    return bad;
}

__attribute__((target("avx2"), noinline))
static int spin256(const unsigned char *p, volatile int *stop_flag) {
    int bad;
    __asm__ volatile(
        "vmovdqu 0(%1), %%ymm8\n\t"
        "vmovdqu 32(%1), %%ymm9\n\t"
        "vmovdqu 64(%1), %%ymm10\n\t"
        "vmovdqu 96(%1), %%ymm11\n\t"
        "vmovdqu 128(%1), %%ymm12\n\t"
        "vmovdqu 160(%1), %%ymm13\n\t"
        "vmovdqu 192(%1), %%ymm14\n\t"
        "vmovdqu 224(%1), %%ymm15\n\t"
        "1:\n\t"
        "vpcmpeqq 0(%1), %%ymm8, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 32(%1), %%ymm9, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 64(%1), %%ymm10, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 96(%1), %%ymm11, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 128(%1), %%ymm12, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 160(%1), %%ymm13, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 192(%1), %%ymm14, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        "vpcmpeqq 224(%1), %%ymm15, %%ymm0\n\t"
        "vpmovmskb %%ymm0, %%eax\n\t"
        "cmp $-1, %%eax\n\t"
        "jne 2f\n\t"
        SPIN_UNTIL_STOPPED
        : "=&a"(bad) : "r"(p), "r"(stop_flag)
        : "memory", "cc", "xmm0", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return bad;
}

static void *run(void *arg) {
    struct spinner *s = arg;
    char name[16];
    snprintf(name, sizeof name, "xs-%d", s->index);
    pthread_setname_np(pthread_self(), name);
    s->bad = s->wide ? spin512(s->pattern, &stop) : spin256(s->pattern, &stop);
    return NULL;
}

int main(int argc, char **argv) {
    fx_init("xstate");
    int n = (int) fx_opt_long(argc, argv, "threads", 3);
    if (n < 1 || n > 64) {
        fx_fail("--threads=%d: 1 to 64", n);
    }
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !__builtin_cpu_supports("avx2")) {
        fx_fail("this CPU has neither AVX-512 nor AVX2");
    }
    /* the verdict's signals go to the main thread, never interrupt a spinner */
    sigset_t harness, old;
    sigemptyset(&harness);
    sigaddset(&harness, SIGUSR1);
    sigaddset(&harness, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &harness, &old);
    static struct spinner spinners[64];
    unsigned long long seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n; i++) {
        struct spinner *s = &spinners[i];
        s->index = i;
        s->wide = wide;
        for (int b = 0; b < PATTERN; b++) {
            unsigned char v = (unsigned char) fx_rand(&seed);
            s->pattern[b] = v ? v : 0xa5; /* no zero byte: a register reset to its init state must not match */
        }
        if (pthread_create(&s->thread, NULL, run, s) != 0) {
            fx_fail("pthread_create of spinner %d", i);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    printf("%d spinners on %s\n", n, wide ? "zmm8-31 and k1-k7" : "ymm8-15");
    fflush(stdout);
    fx_ready();
    fx_wait_verify();
    stop = 1;
    for (int i = 0; i < n; i++) {
        pthread_join(spinners[i].thread, NULL);
        if (spinners[i].bad) {
            fx_note_failure("spinner %d (xs-%d) found its %s registers changed", i, i,
                            wide ? "AVX-512" : "AVX");
        }
    }
    fx_finish();
}
