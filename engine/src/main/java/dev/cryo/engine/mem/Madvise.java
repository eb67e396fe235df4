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

    static final int MADV_GUARD_INSTALL = 102;
    /**
     * Where a vma_entry keeps its guard regions: a field CRIU's schema does not have (crit shows the entry without it,
     * CRIU restores the mapping without them), each region as two varints, its start and its end.
     */
    static final int GUARDS_FIELD = 1001;

    /**
     * {@code v} with its guard regions ({@code MADV_GUARD_INSTALL}: pages that fault on any access, found in the
     * pagemap as markers), which no CRIU field holds.
     */
    public static vma_entry withGuards(vma_entry v, java.util.List<PageRun> guards) {
        if (guards.isEmpty()) {
            return v;
        }
        var field = com.google.protobuf.UnknownFieldSet.Field.newBuilder();
        for (PageRun g : guards) {
            field.addVarint(g.address()).addVarint(g.end());
        }
        return v.toBuilder().setUnknownFields(com.google.protobuf.UnknownFieldSet.newBuilder(v.getUnknownFields())
                .addField(GUARDS_FIELD, field.build()).build()).build();
    }

    /** The guard regions {@link #withGuards} kept in {@code v}: {start, end} pairs. */
    public static java.util.List<long[]> guards(vma_entry v) {
        var field = v.getUnknownFields().getField(GUARDS_FIELD);
        java.util.List<long[]> out = new java.util.ArrayList<>();
        if (field == null) {
            return out;
        }
        java.util.List<Long> ends = field.getVarintList();
        for (int i = 0; i + 1 < ends.size(); i += 2) {
            long start = ends.get(i), end = ends.get(i + 1);
            if (start >= v.getStart() && end <= v.getEnd() && start < end && ((start | end) & 4095) == 0) {
                out.add(new long[]{start, end});
            }
        }
        return out;
    }

    /**
     * Puts the restored VMA {@code v}'s guard regions back, before it is locked (the kernel refuses guards in a locked
     * mapping). A kernel without them (before 6.13) refuses: the restore goes on with a warning naming the range, as
     * the mapping's memory is whole without them; only a stray access no longer faults.
     */
    public static void installGuards(RemoteSyscall remote, vma_entry v, Log log) throws SyscallException {
        for (long[] g : guards(v)) {
            long r = remote.raw(Syscall.MADVISE, g[0], g[1] - g[0], MADV_GUARD_INSTALL);
            if (r < 0) {
                log.warn("pid %d: guard region %x-%x refused here (madvise MADV_GUARD_INSTALL: %s); it comes back as "
                        + "ordinary pages", remote.pid(), g[0], g[1], SyscallException.describe((int) -r));
            }
        }
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
