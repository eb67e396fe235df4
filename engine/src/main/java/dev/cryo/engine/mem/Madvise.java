package dev.cryo.engine.mem;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.vma_entry;

import java.util.Set;

/**
 * A mapping's madvise flags: read from the VmFlags of /proc/PID/smaps at dump, kept in {@code vma_entry.madv} as CRIU
 * keeps them (bit N set = {@code madvise(MADV_N)} was in effect), and given again to the restored VMA. Likewise
 * whether it is locked in memory ({@code mlock}, VmFlags {@code lo}), kept as {@code MAP_LOCKED} in
 * {@code vma_entry.flags}.
 */
public final class Madvise {
    static final int MADV_RANDOM = 1, MADV_SEQUENTIAL = 2, MADV_DONTFORK = 10, MADV_MERGEABLE = 12,
            MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16, MADV_WIPEONFORK = 18;
    /** VmFlags mnemonics and the advice that sets each. */
    private static final String[] FLAGS = {"rr", "sr", "dc", "mg", "hg", "nh", "dd", "wf"};
    private static final int[] ADVICE = {MADV_RANDOM, MADV_SEQUENTIAL, MADV_DONTFORK, MADV_MERGEABLE, MADV_HUGEPAGE,
            MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_WIPEONFORK};

    public static final int MAP_LOCKED = 0x2000;
    static final int MLOCK2 = 325, MLOCK_ONFAULT = 1;

    private Madvise() {
    }

    /** Whether a VMA whose smaps VmFlags are {@code vmFlags} is locked in memory (mlock, mlockall, MAP_LOCKED). */
    public static boolean locked(Set<String> vmFlags) {
        return vmFlags.contains("lo");
    }

    /**
     * Locks the restored VMA {@code v} again if it was locked, once its pages are in. A plain mlock makes every page
     * of the range resident, so a locked VMA whose pages the image holds all ({@code whole}), or a file's (whose
     * pages come from the file), is locked so again. One with pages the image lacks was locked on fault
     * ({@code MLOCK_ONFAULT}, or mlock before MAP_LOCKED pages were touched): it is locked on fault, so that no page
     * it did not have is made. A refusal (no CAP_IPC_LOCK and RLIMIT_MEMLOCK too low) is logged: the memory is right
     * without the lock.
     */
    public static void lock(RemoteSyscall remote, vma_entry v, boolean whole, Log log) throws SyscallException {
        if ((v.getFlags() & MAP_LOCKED) == 0) {
            return;
        }
        long r = remote.raw(MLOCK2, v.getStart(), v.getEnd() - v.getStart(), whole ? 0 : MLOCK_ONFAULT);
        if (r < 0) {
            log.warn("pid %d: mlock of %x-%x refused here (%s); the mapping comes back unlocked", remote.pid(),
                    v.getStart(), v.getEnd(), SyscallException.describe((int) -r));
        }
    }

    /** Whether {@code runs} (a pagemap's, in address order) hold every page of {@code v}. */
    public static boolean whole(java.util.List<dev.cryo.image.PageMap.PageRun> runs, vma_entry v) {
        long covered = 0;
        for (dev.cryo.image.PageMap.PageRun r : runs) {
            if (r.present() || r.inParent()) {
                covered += Math.max(0, Math.min(r.end(), v.getEnd()) - Math.max(r.vaddr(), v.getStart()));
            }
        }
        return covered >= v.getEnd() - v.getStart();
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
