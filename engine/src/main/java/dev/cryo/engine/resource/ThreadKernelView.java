package dev.cryo.engine.resource;

import dev.cryo.engine.sys.Bpf;
import dev.cryo.engine.sys.Btf;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The sigaltstack and clear-child-tid address of every thread of a frozen process, read from the kernel by a BPF
 * task iterator instead of by two remote syscalls in each thread. Those calls cost a tracer round trip per thread
 * per call (≈ 200 µs a thread on this project's VM, most of a threaded process's frozen time); the iterator reads
 * all threads in one {@code read}. The program is made here from the kernel's BTF (where {@code task_struct} keeps
 * {@code pid}, {@code sas_ss_sp}, {@code sas_ss_size}, {@code sas_ss_flags} and {@code clear_child_tid}) and loads
 * no code into the target: it runs in the kernel, in Cryo's own read.
 *
 * <p>Used only where every fact it rests on holds, else {@link #forProcess} gives null and the remote calls run as
 * before: root with BPF, the kernel's BTF, task iterators that filter by process (Linux 6.1), and Cryo in the
 * initial pid namespace (the program reads the kernel's own pid of each thread). {@code -Dcryo.threads.kernel=off}
 * turns it off.
 */
public final class ThreadKernelView implements AutoCloseable {
    static final int RECORD = 40;
    static final String PROPERTY = "cryo.threads.kernel";
    /** The initial pid namespace's inode number (PROC_PID_INIT_INO): fixed by the kernel. */
    static final String INIT_PID_NS = "pid:[4026531836]";

    /** A thread's values, as sigaltstack(NULL, &old) and prctl(PR_GET_TID_ADDRESS) in it would give them. */
    public record Row(int tid, long sasSp, long sasSize, int sasFlags, long clearTid) {
    }

    private static final Object LOCK = new Object();
    private static int programFd = -1;
    private static String unavailable; // why there is no program, once tried

    private final int link;
    private final int pid;

    private ThreadKernelView(int link, int pid) {
        this.link = link;
        this.pid = pid;
    }

    /** Whether the property allows the view at all. */
    static boolean enabled() {
        return !"off".equals(System.getProperty(PROPERTY, "on"));
    }

    /**
     * Loads the program once per Cryo (verifier time, off the frozen window: the rehearsal's dump gets here first).
     *
     * @return null when loaded, else why the view is not used
     */
    public static String prepare() {
        synchronized (LOCK) {
            if (programFd >= 0 || unavailable != null) {
                return unavailable;
            }
            try {
                if (!INIT_PID_NS.equals(DirectFiles.readLink("/proc/self/ns/pid"))) {
                    unavailable = "Cryo is not in the initial pid namespace";
                } else {
                    Btf kernel = Btf.vmlinux();
                    int iterTask = kernel.function("bpf_iter_task");
                    if (iterTask < 0) {
                        throw new IOException("the kernel has no bpf_iter_task");
                    }
                    programFd = Bpf.loadIterator("cryo_threads", program(kernel), iterTask);
                }
            } catch (IOException | SyscallException | RuntimeException e) {
                unavailable = e.getMessage();
            }
            return unavailable;
        }
    }

    /**
     * The iterator's program: for each thread, one record of five 64-bit words (pid, sas_ss_sp, sas_ss_size,
     * sas_ss_flags, clear_child_tid) written with bpf_seq_write. Its context is bpf_iter__task: the meta (whose
     * first member is the seq_file) at 0, the task at 8, null at the iteration's end.
     */
    static byte[] program(Btf kernel) throws IOException {
        Btf.Member[] fields = {
                kernel.member("task_struct", "pid"),
                kernel.member("task_struct", "sas_ss_sp"),
                kernel.member("task_struct", "sas_ss_size"),
                kernel.member("task_struct", "sas_ss_flags"),
                kernel.member("task_struct", "clear_child_tid"),
        };
        var p = new Bpf.Program();
        p.load(8, Bpf.Program.R7, Bpf.Program.R1, 8); // task
        int jumpAt = p.count();
        p.jumpIfEqual(Bpf.Program.R7, 0, 0); // patched below: to the exit
        p.load(8, Bpf.Program.R8, Bpf.Program.R1, 0); // meta
        p.load(8, Bpf.Program.R8, Bpf.Program.R8, 0); // meta->seq
        for (int i = 0; i < fields.length; i++) {
            p.load(fields[i].size(), Bpf.Program.R2, Bpf.Program.R7, fields[i].offset());
            p.store64(Bpf.Program.R10, -RECORD + 8 * i, Bpf.Program.R2);
        }
        p.mov(Bpf.Program.R1, Bpf.Program.R8);
        p.mov(Bpf.Program.R2, Bpf.Program.R10);
        p.addImm(Bpf.Program.R2, -RECORD);
        p.movImm(Bpf.Program.R3, RECORD);
        p.call(Bpf.HELPER_SEQ_WRITE);
        int exitAt = p.count();
        p.movImm(Bpf.Program.R0, 0);
        p.exit();
        byte[] code = p.bytes();
        int skip = exitAt - jumpAt - 1;
        code[jumpAt * 8 + 2] = (byte) skip;
        code[jumpAt * 8 + 3] = (byte) (skip >> 8);
        return code;
    }

    /**
     * The view of process {@code pid}'s threads, linked now (before its freeze, where the caller can), or null
     * when the view is not used here ({@link #prepare} says why).
     */
    public static ThreadKernelView forProcess(int pid) throws SyscallException {
        if (!enabled() || prepare() != null) {
            return null;
        }
        return new ThreadKernelView(Bpf.linkToProcess(programFd, pid), pid);
    }

    /** Why the view is not used, or null when it is. */
    public static String unavailable() {
        return enabled() ? prepare() : "-D" + PROPERTY + "=off";
    }

    private static final ThreadLocal<NativeBuffer> OUT = ThreadLocal.withInitial(() -> NativeBuffer.allocate(RECORD * 256));

    /**
     * Every thread's row as the process stands (frozen, for the values to hold), keyed by tid.
     *
     * @param rsp each thread's stack pointer, for SS_ONSTACK as the kernel reports it; a thread not in it is read
     *            as off its altstack
     */
    public Map<Integer, Row> read(Map<Integer, Long> rsp) throws SyscallException {
        NativeBuffer out = OUT.get();
        int n;
        while (true) {
            try {
                n = Bpf.iterate(link, out);
                break;
            } catch (SyscallException e) {
                if (e.errno() != 7 || out.capacity() >= RECORD * (1 << 20)) {
                    throw e;
                }
                out = NativeBuffer.allocate(out.capacity() * 4);
                OUT.set(out);
            }
        }
        Map<Integer, Row> rows = new HashMap<>();
        for (int o = 0; o + RECORD <= n; o += RECORD) {
            int tid = (int) out.getLong(o);
            long sp = out.getLong(o + 8), size = out.getLong(o + 16), own = out.getLong(o + 24);
            Long at = rsp.get(tid);
            rows.put(tid, new Row(tid, sp, size, reported((int) own, sp, size, at == null ? 0 : at), out.getLong(o + 32)));
        }
        return rows;
    }

    /**
     * sigaltstack's ss_flags: SS_DISABLE without an altstack, SS_ONSTACK when the stack pointer lies on it (never
     * with SS_AUTODISARM), and the thread's own SS_AUTODISARM, as the kernel's do_sigaltstack reports them.
     */
    public static int reported(int own, long sasSp, long sasSize, long rsp) {
        int flags = own & ThreadState.SS_AUTODISARM;
        if (sasSize == 0) {
            return flags | ThreadState.SS_DISABLE;
        }
        boolean onStack = (own & ThreadState.SS_AUTODISARM) == 0
                && Long.compareUnsigned(rsp, sasSp) > 0 && Long.compareUnsigned(rsp - sasSp, sasSize) <= 0;
        return onStack ? flags | ThreadState.SS_ONSTACK : flags;
    }

    @Override
    public void close() {
        Syscall.raw(Syscall.CLOSE, link);
    }

    @Override
    public String toString() {
        return "bpf task iterator of pid " + pid;
    }
}
