package dev.cryo.engine.ptrace;

import java.util.Arrays;

/** x86_64 {@code user_regs_struct}: 27 words in the kernel's order (the same order as CRIU's user_x86_regs_entry). */
public final class Registers {
    public static final int R15 = 0, R14 = 1, R13 = 2, R12 = 3, RBP = 4, RBX = 5, R11 = 6, R10 = 7, R9 = 8, R8 = 9,
            RAX = 10, RCX = 11, RDX = 12, RSI = 13, RDI = 14, ORIG_RAX = 15, RIP = 16, CS = 17, EFLAGS = 18, RSP = 19,
            SS = 20, FS_BASE = 21, GS_BASE = 22, DS = 23, ES = 24, FS = 25, GS = 26;
    public static final int COUNT = 27;
    public static final int SIZE = COUNT * 8;

    final long[] words; // never handed out: words() copies

    public Registers(long[] words) {
        if (words.length != COUNT) {
            throw new IllegalArgumentException("user_regs_struct has " + COUNT + " words, got " + words.length);
        }
        this.words = words.clone();
    }

    /** Registers over {@code words} as they are, not copied: for arrays nobody else holds (Ptrace's reads). */
    static Registers adopt(long[] words) {
        return new Registers(words, false);
    }

    private Registers(long[] words, boolean copy) {
        if (words.length != COUNT) {
            throw new IllegalArgumentException("user_regs_struct has " + COUNT + " words, got " + words.length);
        }
        this.words = copy ? words.clone() : words;
    }

    public long get(int index) {
        return words[index];
    }

    public Registers with(int index, long value) {
        long[] w = words.clone();
        w[index] = value;
        return new Registers(w);
    }

    public long[] words() {
        return words.clone();
    }

    public long rip() {
        return words[RIP];
    }

    public long rax() {
        return words[RAX];
    }

    public long origRax() {
        return words[ORIG_RAX];
    }

    /** Syscall restart codes the kernel leaves in rax of a task stopped inside a syscall. */
    public static final long ERESTARTSYS = -512, ERESTARTNOINTR = -513, ERESTARTNOHAND = -514,
            ERESTART_RESTARTBLOCK = -516, EINTR = -4;

    /**
     * The registers a new task must start with to resume a syscall the old task was stopped in: the kernel
     * would restart it on the way back to user space, but a restored task is not on that path.
     */
    public Registers forNewTask() {
        long[] w = words.clone();
        if (w[ORIG_RAX] >= 0) {
            long rax = w[RAX];
            if (rax == ERESTARTSYS || rax == ERESTARTNOINTR || rax == ERESTARTNOHAND) {
                w[RAX] = w[ORIG_RAX];
                w[RIP] -= 2;
            } else if (rax == ERESTART_RESTARTBLOCK) {
                restartBlock(w);
            }
        }
        w[ORIG_RAX] = -1;
        return new Registers(w);
    }

    /**
     * The registers as a core image holds them, as CRIU writes them: a syscall the thread was stopped in already set
     * to go on as {@link #forNewTask} would have it (made again, or ended with EINTR), with orig_rax still naming it.
     * CRIU's restore takes them as they are; {@link #forNewTask} leaves them as they are too.
     */
    public Registers forImage() {
        return forNewTask().with(ORIG_RAX, words[ORIG_RAX]);
    }

    /**
     * The registers a thread of this state must get from rt_sigreturn to go on as it would from its stop
     * ({@link SigreturnFrame}): rt_sigreturn makes no syscall restart, so one it was stopped in is started again here,
     * as {@link #forNewTask} does. One the kernel would resume through its restart block, which rt_sigreturn
     * empties, is made again with its own arguments where forNewTask has no time left to read: a poll or futex wait
     * waits its whole timeout once more, as if it had been slow to be scheduled, instead of failing with EINTR.
     */
    public Registers resumedBySigreturn() {
        Registers r = forNewTask();
        long nr = words[ORIG_RAX];
        if (nr >= 0 && nr != RESTART_SYSCALL && words[RAX] == ERESTART_RESTARTBLOCK && r.rax() == EINTR) {
            long[] w = r.words();
            w[RAX] = nr;
            w[RIP] = words[RIP] - 2;
            return new Registers(w);
        }
        return r;
    }

    static final long POLL = 7, NANOSLEEP = 35, CLOCK_NANOSLEEP = 230, TIMER_ABSTIME = 1;
    /** The syscall through which the kernel resumes one stopped with -ERESTART_RESTARTBLOCK. */
    public static final long RESTART_SYSCALL = 219;

    /**
     * The syscall a task stopped in restart_syscall is resuming, from the code before its syscall instruction
     * ({@code code}: the 7 bytes that end at rip). A syscall stopped once before (a SIGSTOP and SIGCONT, a
     * pre-dump, a dump with -R) is resumed by the kernel through restart_syscall, which then stands in orig_rax,
     * while the registers of the first call stay in place. Its number is in the instruction that loaded it, where
     * the C libraries' wrappers put it: {@code mov $NR, %eax} right before the syscall instruction. Only the
     * syscalls {@link #forNewTask} resumes are told (poll, nanosleep, clock_nanosleep); anything else is -1, and
     * returns EINTR as before.
     */
    public long restartedSyscall(byte[] code) {
        if (words[ORIG_RAX] != RESTART_SYSCALL || words[RAX] != ERESTART_RESTARTBLOCK || code == null
                || code.length != 7) {
            return -1;
        }
        boolean movThenSyscall = (code[0] & 0xff) == 0xb8 && code[3] == 0 && code[4] == 0
                && (code[5] & 0xff) == 0x0f && code[6] == 0x05;
        if (!movThenSyscall) {
            return -1;
        }
        long nr = (code[1] & 0xff) | (code[2] & 0xff) << 8;
        return nr == POLL || nr == NANOSLEEP || nr == CLOCK_NANOSLEEP ? nr : -1;
    }

    /**
     * A syscall the kernel would have resumed through its restart block, which lived in the old task. A relative
     * sleep that was given a place for the time left (nanosleep's rem, clock_nanosleep's) found that time written
     * there when it stopped: it sleeps again for just that long, as the kernel's restart would have, by asking
     * for the time left out of the same place. A poll without a timeout is called again. Any other (poll or a
     * futex wait with a timeout, a sleep without rem) returns EINTR, as CRIU makes every one of them do, since
     * what was left of its timeout is nowhere to be read.
     */
    private static void restartBlock(long[] w) {
        long nr = w[ORIG_RAX];
        if (nr == POLL && (int) w[RDX] < 0) {
            // a poll without a timeout: the kernel restarts it through its restart block too, with the same fds
            // and no timeout, which is poll called again as it was
        } else if (nr == NANOSLEEP && w[RSI] != 0) {
            w[RDI] = w[RSI]; // nanosleep(rem, rem)
        } else if (nr == CLOCK_NANOSLEEP && (w[RSI] & TIMER_ABSTIME) == 0 && w[R10] != 0) {
            w[RDX] = w[R10]; // clock_nanosleep(clock, 0, rem, rem)
        } else {
            w[RAX] = EINTR;
            return;
        }
        w[RAX] = nr;
        w[RIP] -= 2;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Registers r && Arrays.equals(words, r.words);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return String.format("rip=%#x rsp=%#x rax=%#x orig_rax=%d", words[RIP], words[RSP], words[RAX], words[ORIG_RAX]);
    }
}
