package dev.cryo.engine.mem;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.vma_entry;

import java.util.Set;

/**
 * A mapping's madvise flags: read from the VmFlags of /proc/PID/smaps at dump, kept in {@code vma_entry.madv} as CRIU
 * keeps them (bit N set = {@code madvise(MADV_N)} was in effect), and given again to the restored VMA.
 */
public final class Madvise {
    static final int MADV_RANDOM = 1, MADV_SEQUENTIAL = 2, MADV_DONTFORK = 10, MADV_MERGEABLE = 12,
            MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16, MADV_WIPEONFORK = 18;
    /** VmFlags mnemonics and the advice that sets each. */
    private static final String[] FLAGS = {"rr", "sr", "dc", "mg", "hg", "nh", "dd", "wf"};
    private static final int[] ADVICE = {MADV_RANDOM, MADV_SEQUENTIAL, MADV_DONTFORK, MADV_MERGEABLE, MADV_HUGEPAGE,
            MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_WIPEONFORK};

    private Madvise() {
    }

    /** The madv bits of a VMA whose smaps VmFlags are {@code vmFlags} (0 when none, or when VmFlags were not read). */
    public static long fromVmFlags(Set<String> vmFlags) {
        long madv = 0;
        for (int i = 0; i < FLAGS.length; i++) {
            if (vmFlags.contains(FLAGS[i])) {
                madv |= 1L << ADVICE[i];
            }
        }
        return madv;
    }

    /**
     * Gives the restored VMA {@code v} its advice again, in the task {@code remote} drives. An advice this kernel
     * refuses (KSM or THP not built in) is logged and left out: the memory is right without it.
     */
    public static void apply(RemoteSyscall remote, vma_entry v, Log log) throws SyscallException {
        long madv = v.getMadv();
        for (int advice = 0; advice < 64 && madv != 0; advice++) {
            if ((madv & (1L << advice)) == 0) {
                continue;
            }
            madv &= ~(1L << advice);
            long r = remote.raw(Syscall.MADVISE, v.getStart(), v.getEnd() - v.getStart(), advice);
            if (r < 0) {
                log.warn("pid %d: madvise(%x, %d) refused here (%s); the mapping comes back without it", remote.pid(),
                        v.getStart(), advice, SyscallException.describe((int) -r));
            }
        }
    }
}
