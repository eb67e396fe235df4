package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.mm_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.user_x86_fpregs_entry;
import dev.cryo.image.proto.vma_entry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Images from another machine: refused before the restore makes anything, naming what this machine lacks.
 *
 * <ul>
 * <li>CPU: the xsave features of the machine the images come from must all be here. A program chose its code paths
 * by them when it started (glibc picks an AVX-512 memcpy once, at start-up), so a restore onto a CPU without one
 * of them would die of SIGILL later, far from its cause. The dumping machine's features are in each thread's FPU
 * state: the xsave area ptrace hands out holds XCR0 in the first word of its software-reserved bytes (464..471);
 * one saved in the task itself holds the "FPXS" frame there, its xfeatures at 472. Without either, the components
 * in use ({@code xstate_bv}) are what is checked. This machine's are {@code arch_prctl(ARCH_GET_XCOMP_SUPP)}'s.</li>
 * <li>Kernel layout: the restored task gets this kernel's vDSO, moved where the image had it. A program keeps
 * pointers into the vDSO it started with, so a vDSO block ([vvar] [vvar_vclock] [vdso]) of another size is
 * another kernel's layout, and those pointers would land elsewhere.</li>
 * </ul>
 */
public final class HostCompatibility {
    static final int ARCH_GET_XCOMP_SUPP = 0x1021;
    /** Magic of the kernel's struct _fpx_sw_bytes in bytes 464..511 of the xsave area, "FPXS". */
    static final int FP_XSTATE_MAGIC1 = 0x46505853;
    /**
     * Offsets, in 32-bit words of CRIU's fpregs padding (bytes 416..511): ptrace's XCR0 word, or the FPXS frame's
     * magic1, and that frame's xfeatures.
     */
    static final int PAD_SW = (464 - 416) / 4, PAD_XFEATURES = (472 - 416) / 4;
    public static final int VMA_AREA_VDSO = 1 << 3, VMA_AREA_VVAR = 1 << 12;

    private static final String[] COMPONENTS = {"x87", "SSE", "AVX", "MPX bounds registers", "MPX CSR",
            "AVX-512 opmask", "AVX-512 ZMM_Hi256", "AVX-512 Hi16_ZMM", "PT", "PKRU", "PASID", "CET user",
            "CET supervisor", "HDC", "UINTR", "LBR", "HWP", "AMX TILECFG", "AMX TILEDATA", "APX"};

    /** What this machine offers, read once. */
    public record Host(long xfeatures, long vdsoBlockBytes) {
        public static Host current() throws CryoException {
            return new Host(HostCompatibility.xfeatures(), HostCompatibility.vdsoBlockBytes(new ProcFs()));
        }
    }

    private HostCompatibility() {
    }

    /** Checks every task and thread of {@code images} against this machine. */
    public static void check(ImageDir images, Log log) throws CryoException {
        List<pstree_entry> tree;
        try {
            tree = images.pstree();
        } catch (IOException | RuntimeException e) {
            return; // the restore's own reading names what is missing or broken
        }
        Host host = Host.current();
        List<Task> tasks = new ArrayList<>();
        for (pstree_entry e : tree) {
            try {
                core_entry core = images.core(e.getPid());
                if (core.hasTc() && core.getTc().getTaskState() == TaskState.DEAD.code()) {
                    continue; // a zombie runs no code
                }
                List<core_entry> threads = new ArrayList<>();
                threads.add(core);
                for (int tid : e.getThreadsList()) {
                    if (tid != e.getPid()) {
                        threads.add(images.core(tid));
                    }
                }
                tasks.add(new Task(e.getPid(), threads, images.mm(e.getPid())));
            } catch (IOException | RuntimeException x) {
                return; // as above: named by the restore's reading, with the file
            }
        }
        check(tasks, host);
        log.debug("images fit this machine: xfeatures %#x, vDSO block %d bytes", host.xfeatures(), host.vdsoBlockBytes());
    }

    /** A task of the images: its cores (the leader's first) and its mm. */
    record Task(int pid, List<core_entry> cores, mm_entry mm) {
    }

    static void check(List<Task> tasks, Host host) throws CryoException {
        for (Task t : tasks) {
            for (core_entry c : t.cores()) {
                if (!c.hasThreadInfo() || !c.getThreadInfo().hasFpregs()) {
                    continue;
                }
                long needed = imageXfeatures(c.getThreadInfo().getFpregs());
                long missing = needed & ~host.xfeatures();
                if (missing != 0) {
                    throw new CryoException("cannot restore pid " + t.pid() + ": the images come from a machine whose "
                            + "CPU has " + names(missing) + " (xsave features " + hex(missing) + "), which this CPU "
                            + "lacks (it has " + hex(host.xfeatures()) + "); restore them on a machine with "
                            + (Long.bitCount(missing) == 1 ? "it" : "them"));
                }
            }
            long imageVdso = vdsoBlockBytes(t.mm());
            if (imageVdso > 0 && host.vdsoBlockBytes() > 0 && imageVdso != host.vdsoBlockBytes()) {
                throw new CryoException("cannot restore pid " + t.pid() + ": its vDSO block ([vvar] and [vdso]) has "
                        + imageVdso + " bytes in the images but " + host.vdsoBlockBytes() + " on this kernel; the "
                        + "images come from a kernel with another vDSO layout, which Cryo cannot restore onto");
            }
        }
    }

    /** The dumping machine's xfeatures when the software bytes hold them, else the components in use. */
    static long imageXfeatures(user_x86_fpregs_entry f) {
        List<Integer> pad = f.getPaddingList();
        if (pad.size() > PAD_XFEATURES + 1) {
            if (pad.get(PAD_SW) == FP_XSTATE_MAGIC1) {
                return word(pad, PAD_XFEATURES);
            }
            long xcr0 = word(pad, PAD_SW);
            if ((xcr0 & 0b11) == 0b11) { // x87 and SSE are always in XCR0: this is it
                return xcr0;
            }
        }
        return f.hasXsave() ? f.getXsave().getXstateBv() : 0b11;
    }

    private static long word(List<Integer> pad, int at) {
        return (pad.get(at) & 0xffffffffL) | ((long) pad.get(at + 1) << 32);
    }

    static long vdsoBlockBytes(mm_entry mm) {
        long[] b = vdsoBlock(mm);
        return b == null ? 0 : b[1] - b[0];
    }

    /** [start, end) of the image's adjacent [vvar] [vvar_vclock] [vdso] block, or null when it has none. */
    static long[] vdsoBlock(mm_entry mm) {
        long s = Long.MAX_VALUE, e = 0;
        for (vma_entry v : mm.getVmasList()) {
            if ((v.getStatus() & (VMA_AREA_VDSO | VMA_AREA_VVAR)) != 0) {
                s = Math.min(s, v.getStart());
                e = Math.max(e, v.getEnd());
            }
        }
        return e == 0 ? null : new long[]{s, e};
    }

    /** The same block in a task's maps, or null. */
    static long[] vdsoBlock(List<MapsEntry> maps) {
        long s = Long.MAX_VALUE, e = 0;
        for (MapsEntry m : maps) {
            if (m.isVdso() || m.isVvar()) {
                s = Math.min(s, m.start());
                e = Math.max(e, m.end());
            }
        }
        return e == 0 ? null : new long[]{s, e};
    }

    static long vdsoBlockBytes(ProcFs proc) throws CryoException {
        try {
            long[] b = vdsoBlock(proc.fastMaps((int) ProcessHandle.current().pid()));
            return b == null ? 0 : b[1] - b[0];
        } catch (IOException e) {
            throw new CryoException("cannot restore: reading this kernel's vDSO layout from /proc/self/maps: "
                    + e.getMessage());
        }
    }

    /** The user xfeatures this CPU and kernel support. */
    public static long xfeatures() throws CryoException {
        NativeBuffer b = NativeBuffer.allocate(8);
        long r = Syscall.raw(Syscall.ARCH_PRCTL, ARCH_GET_XCOMP_SUPP, b.address());
        if (r < 0) {
            return -1L; // before Linux 5.16 there is no way to ask: the CPU side is not checked
        }
        return b.getLong(0);
    }

    /** The names of the xsave components in {@code mask}. */
    public static String names(long mask) {
        List<String> out = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((mask & (1L << bit)) != 0) {
                out.add(bit < COMPONENTS.length ? COMPONENTS[bit] : "xsave component " + bit);
            }
        }
        return String.join(", ", out);
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
