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
 * What a dump needs of each thread of a frozen process that ptrace does not give, read from the kernel by a BPF task
 * iterator in one {@code read}: its sigaltstack and clear-child-tid address (before, two remote syscalls in each
 * thread, a tracer round trip a call: about 200 µs a thread on this project's VM, most of a threaded process's frozen
 * time), its seccomp mode and no_new_privs (a read of its /proc status each), its robust list, comm, nice value,
 * policy and real-time priority (five calls and reads each, on a side thread). The program is assembled here from
 * the kernel's BTF, which says where {@code task_struct} keeps each of {@link #FIELDS}; the verifier checks every
 * load against the same BTF. Nothing runs in the target: the program runs in the kernel, in Cryo's own read. It is
 * declared GPL, as the kernel requires of a program that calls bpf_seq_write.
 *
 * <p>Used only where every fact it rests on holds, else {@link #forProcess} gives null and each thread is read as
 * before: root with BPF, the kernel's BTF, task iterators that filter by process (Linux 6.1). The program reads the
 * kernel's own pid of each thread, which is Cryo's where Cryo runs in the initial pid namespace; elsewhere rows are
 * matched to threads by their TLS base ({@link #rowsKeyedByTid}). {@code -Dcryo.threads.kernel=off} turns it off;
 * {@code =tls} matches by TLS base everywhere, as in a container (for tests).
 */
public final class ThreadKernelView implements AutoCloseable {
    static final String PROPERTY = "cryo.threads.kernel";
    /** The initial pid namespace's inode number (PROC_PID_INIT_INO): fixed by the kernel. */
    static final String INIT_PID_NS = "pid:[4026531836]";

    /**
     * A thread's values: its altstack as the kernel keeps it ({@link #sasFlags} gives what sigaltstack would
     * report), its clear-child-tid address as prctl(PR_GET_TID_ADDRESS) gives it, its seccomp mode and
     * no_new_privs as its /proc status shows them, its robust list head as get_robust_list gives it, its comm, and
     * its nice value, policy (with SCHED_RESET_ON_FORK) and real-time priority as getpriority, sched_getscheduler
     * and sched_getparam give them.
     */
    public record Row(int tid, long sasSp, long sasSize, int sasOwnFlags, long clearTid, int seccompMode,
                      boolean noNewPrivs, long robustHead, String comm, int nice, int policy, int rtPriority,
                      long fsBase, long ownPending, dev.cryo.engine.ptrace.Ptrace.RseqConfig rseq, long blocked,
                      boolean maskKnown) {
        /** sigaltstack's ss_flags for this thread with stack pointer {@code rsp}. */
        public int sasFlags(long rsp) {
            return reported(sasOwnFlags, sasSp, sasSize, rsp);
        }

        /**
         * Whether the thread has no signal pending of its own (its private queue, which PTRACE_PEEKSIGINFO reads):
         * the kernel keeps a signal's bit in the set while an entry of it is queued, so an empty set is an empty
         * queue. False when the set was not read (a kernel whose BTF does not show it).
         */
        public boolean noOwnPending() {
            return ownPending == 0;
        }

        /**
         * Whether {@link #blocked} is the mask PTRACE_GETSIGMASK gives: that request answers the saved mask of a
         * thread stopped inside sigsuspend, ppoll or the like (TS_RESTORE_SIGMASK, a flag the BTF does not name),
         * else the blocked one, so the row says only where the two are the same (most threads).
         */
        public boolean maskKnown() {
            return maskKnown;
        }
    }

    /** {@link Row#ownPending} of a row whose pending set the program did not read. */
    static final long UNKNOWN = -1;

    private static final Object LOCK = new Object();
    private static int programFd = -1;
    private static String unavailable; // why there is no program, once tried
    private static boolean initialPidNamespace;

    /**
     * Whether a row's tid is the thread's number for Cryo: where Cryo runs in the initial pid namespace, the kernel's
     * own pid of a task (which the program reads) is the one Cryo sees. Elsewhere (Cryo in a container) rows are
     * matched to threads by their TLS base ({@link Row#fsBase}), which ptrace gives too.
     */
    public static boolean rowsKeyedByTid() {
        synchronized (LOCK) {
            return initialPidNamespace && !"tls".equals(System.getProperty(PROPERTY)); // tls: as in a container
        }
    }

    private final int link;
    private final int pid;
    private boolean closed;
    /**
     * Where the rows are read to: room for twice the threads the process had when linked, and 16 more (threads born
     * meanwhile), made with the view, before the freeze. Too small, the read fails with E2BIG and starts again in a
     * larger one: a second pass in the frozen window, and a cold path (4.5 ms of a 257-thread dump's window when
     * every reading thread had a fixed 16 KiB).
     */
    private NativeBuffer out;

    private ThreadKernelView(int link, int pid, int threads) {
        this.link = link;
        this.pid = pid;
        this.out = NativeBuffer.allocate(record * (2 * Math.max(1, threads) + 16));
    }

    /** Whether the property allows the view at all. */
    static boolean enabled() {
        return !"off".equals(System.getProperty(PROPERTY, "on"));
    }

    /**
     * Loads the program once per Cryo (off the frozen window: the rehearsal does it when the target has threads).
     *
     * @return null when loaded, else why the view is not used
     */
    public static String prepare() {
        synchronized (LOCK) {
            if (programFd >= 0 || unavailable != null) {
                return unavailable;
            }
            try {
                initialPidNamespace = INIT_PID_NS.equals(DirectFiles.readLink("/proc/self/ns/pid"));
                Btf kernel = Btf.vmlinux();
                int iterTask = kernel.function("bpf_iter_task");
                if (iterTask < 0) {
                    throw new IOException("the kernel has no bpf_iter_task");
                }
                Btf.Member[] found = new Btf.Member[FIELDS.length];
                int[] words = new int[FIELDS.length];
                int w = 0;
                for (int i = 0; i < FIELDS.length; i++) {
                    try {
                        found[i] = kernel.member("task_struct", FIELDS[i]);
                    } catch (IOException e) {
                        if (i < OPTIONAL_FROM) {
                            throw e;
                        }
                        continue; // found[i] null: not in the record, asked by ptrace
                    }
                    words[i] = w;
                    w += Math.max(1, found[i].size() / 8);
                }
                programFd = Bpf.loadIterator("cryo_threads", program(found, w * 8), iterTask);
                members = found;
                wordOf = words;
                record = w * 8;
            } catch (IOException | SyscallException | RuntimeException e) {
                unavailable = e.getMessage();
            }
            return unavailable;
        }
    }

    /**
     * What the program reads of each task_struct, in the record's order: a word each (a byte array, such as comm,
     * a word per 8 bytes).
     */
    static final String[] FIELDS = {"pid", "sas_ss_sp", "sas_ss_size", "sas_ss_flags", "clear_child_tid",
            "seccomp.mode", "atomic_flags", "robust_list", "comm", "policy", "static_prio", "rt_priority",
            "sched_reset_on_fork", "thread.fsbase", "pending.signal.sig", "rseq", "rseq_len", "rseq_sig",
            "blocked.sig", "saved_sigmask.sig"};
    static final int PID = 0, SAS_SP = 1, SAS_SIZE = 2, SAS_FLAGS = 3, CLEAR_TID = 4, SECCOMP = 5, ATOMIC_FLAGS = 6,
            ROBUST = 7, COMM = 8, POLICY = 9, STATIC_PRIO = 10, RT_PRIORITY = 11, RESET_ON_FORK = 12, FS_BASE = 13,
            PENDING = 14, RSEQ = 15, RSEQ_LEN = 16, RSEQ_SIG = 17, BLOCKED = 18, SAVED_MASK = 19;
    /**
     * From this index on, {@link #FIELDS} only spare ptrace requests (the thread's own pending set: a PEEKSIGINFO
     * when empty; its rseq registration: GET_RSEQ_CONFIGURATION; its signal mask: GETSIGMASK): a kernel whose BTF
     * lacks one (no CONFIG_RSEQ, or a task_struct laid out otherwise) still gets the program, without it, and those
     * are asked by ptrace.
     */
    static final int OPTIONAL_FROM = PENDING;
    /** The loaded program's members of {@link #FIELDS}, and each one's first word in the record. */
    private static Btf.Member[] members;
    private static int[] wordOf;
    private static int record;

    /**
     * The iterator's program: for each thread, one record of the {@link #FIELDS} as 64-bit words, written with
     * bpf_seq_write. Its context is bpf_iter__task: the meta (whose first member is the seq_file) at 0, the task at
     * 8, null at the iteration's end. The loads are checked by the verifier against the kernel's BTF.
     */
    static byte[] program(Btf.Member[] fields, int recordBytes) {
        var p = new Bpf.Program();
        p.load(8, Bpf.Program.R7, Bpf.Program.R1, 8); // task
        int jumpAt = p.count();
        p.jumpIfEqual(Bpf.Program.R7, 0, 0); // patched below: to the exit
        p.load(8, Bpf.Program.R8, Bpf.Program.R1, 0); // meta
        p.load(8, Bpf.Program.R8, Bpf.Program.R8, 0); // meta->seq
        int word = 0;
        for (Btf.Member f : fields) {
            if (f == null) {
                continue; // an optional field this kernel does not show
            }
            for (int part = 0; part < Math.max(1, f.size() / 8); part++, word++) {
                p.load(Math.min(8, f.size()), Bpf.Program.R2, Bpf.Program.R7, f.offset() + 8 * part);
                p.store64(Bpf.Program.R10, -recordBytes + 8 * word, Bpf.Program.R2);
            }
        }
        p.mov(Bpf.Program.R1, Bpf.Program.R8);
        p.mov(Bpf.Program.R2, Bpf.Program.R10);
        p.addImm(Bpf.Program.R2, -recordBytes);
        p.movImm(Bpf.Program.R3, recordBytes);
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
    public static ThreadKernelView forProcess(int pid, int threads) throws SyscallException {
        if (!enabled() || prepare() != null) {
            return null;
        }
        try {
            return new ThreadKernelView(Bpf.linkToProcess(programFd, pid), pid, threads);
        } catch (SyscallException e) {
            if (e.errno() == 22 || e.errno() == 7 || e.errno() == 95 || e.errno() == 524) {
                synchronized (LOCK) { // EINVAL, E2BIG, EOPNOTSUPP: a kernel whose task iterators take no process
                    unavailable = e.getMessage(); // not asked again, in the frozen window least of all
                }
            }
            throw e;
        }
    }

    /**
     * Whether the program is loaded in this JVM: then every task's threads are read through it, a single thread's too
     * (as fast as its two calls). A JVM that never met a threaded process does not load it: reading the kernel's BTF
     * and the verifier's check cost 60 to 80 ms of a cold start, which only threads pay back. The rehearsal loads it
     * beside the dump's checks when the target has threads; the resident service and the training, always.
     */
    public static boolean prepared() {
        synchronized (LOCK) {
            return programFd >= 0;
        }
    }

    /** Why the view is not used, or null when it is. */
    public static String unavailable() {
        return enabled() ? prepare() : "-D" + PROPERTY + "=off";
    }

    /**
     * The calling thread's buffers, made now: a direct buffer is zeroed and faulted in when made, which a tracer
     * thread's first read would otherwise pay inside the frozen window (about 0.3 ms here). A view's rows have a
     * buffer of the view's own.
     */
    public static void prepareThread() {
        Bpf.prepareThread();
    }

    /** Every thread's row as the process stands (frozen, for the values to hold), keyed by tid. */
    public Map<Integer, Row> read() throws SyscallException {
        int n;
        while (true) {
            try {
                n = Bpf.iterate(link, out);
                break;
            } catch (SyscallException e) {
                if (e.errno() != 7 || out.capacity() >= 1 << 28) {
                    throw e;
                }
                out = NativeBuffer.allocate(out.capacity() * 4);
            }
        }
        Map<Integer, Row> rows = new HashMap<>();
        for (int o = 0; o + record <= n; o += record) {
            Row r = row(out, o);
            rows.put(r.tid(), r);
        }
        return rows;
    }

    private static Row row(NativeBuffer out, int at) {
        long[] v = new long[FIELDS.length];
        for (int i = 0; i < FIELDS.length; i++) {
            if (members[i] != null) {
                v[i] = members[i].of(out.getLong(at + 8 * wordOf[i]));
            }
        }
        byte[] name = out.bytes(at + 8 * wordOf[COMM], members[COMM].size());
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        int policy = (int) v[POLICY];
        boolean rt = policy == ThreadState.SCHED_FIFO || policy == ThreadState.SCHED_RR;
        // as PTRACE_GET_RSEQ_CONFIGURATION puts them: the registered area, its length, its signature, no flags
        var rseq = members[RSEQ] == null || members[RSEQ_LEN] == null || members[RSEQ_SIG] == null ? null
                : new dev.cryo.engine.ptrace.Ptrace.RseqConfig(v[RSEQ], v[RSEQ_LEN] & 0xffffffffL, 0, (int) v[RSEQ_SIG]);
        return new Row((int) v[PID], v[SAS_SP], v[SAS_SIZE], (int) v[SAS_FLAGS], v[CLEAR_TID], (int) v[SECCOMP],
                (v[ATOMIC_FLAGS] & PFA_NO_NEW_PRIVS) != 0, v[ROBUST],
                new String(name, 0, len, java.nio.charset.StandardCharsets.UTF_8), (int) v[STATIC_PRIO] - 120,
                policy | (v[RESET_ON_FORK] != 0 ? ThreadState.SCHED_RESET_ON_FORK : 0), rt ? (int) v[RT_PRIORITY] : 0,
                v[FS_BASE], members[PENDING] == null ? UNKNOWN : v[PENDING], rseq, v[BLOCKED],
                members[BLOCKED] != null && members[SAVED_MASK] != null && v[BLOCKED] == v[SAVED_MASK]);
    }

    /** task_struct.atomic_flags' bit for no_new_privs (PFA_NO_NEW_PRIVS, bit 0). */
    static final long PFA_NO_NEW_PRIVS = 1;

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
        if (!closed) {
            closed = true;
            Syscall.raw(Syscall.CLOSE, link);
        }
    }

    @Override
    public String toString() {
        return "bpf task iterator of pid " + pid;
    }
}
