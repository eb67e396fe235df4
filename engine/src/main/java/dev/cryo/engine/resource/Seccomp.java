package dev.cryo.engine.resource;

import com.google.protobuf.ByteString;
import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.seccomp_entry;
import dev.cryo.image.proto.seccomp_filter;
import dev.cryo.image.proto.seccomp_mode;
import dev.cryo.image.proto.thread_core_entry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A thread's seccomp state: its mode (strict or filter), its filter chain and no_new_privs, dumped and restored
 * as CRIU does it, with ptrace alone (nothing is injected).
 *
 * <p>Dump: the mode and no_new_privs come from each frozen thread's /proc status; a thread under seccomp is set
 * {@code PTRACE_O_SUSPEND_SECCOMP} before Cryo's first remote syscall in its process, so that its filter neither
 * refuses nor kills Cryo's calls (the option goes with the detach). Its filters are read with
 * {@code PTRACE_SECCOMP_GET_FILTER} and their flags with {@code PTRACE_SECCOMP_GET_METADATA}: index 0 is the
 * thread's oldest filter (the kernel counts from the oldest, whatever ptrace(2) says; a fixture's filters, installed
 * in a known order with distinct flags, show it). {@link Dump} numbers the tree's filters for seccomp.img as CRIU
 * does: the thread core's {@code seccomp_filter} is its oldest filter, each entry's {@code prev} the next newer one
 * (the newest has none), and CRIU's restore installs them in that order. A chain that threads have alike (installed
 * with TSYNC, or inherited across clone or fork) is written once.
 *
 * <p>Restore ({@link Restore}): the image is checked before any task is made. In a built task, after everything
 * else Cryo does there but the credentials (a thread whose filter was installed with CAP_SYS_ADMIN and no
 * no_new_privs can only get it back while it still has the restorer's privileges, as in CRIU), each thread is set
 * {@code PTRACE_O_SUSPEND_SECCOMP} for Cryo's remaining calls, gets no_new_privs, then its filters oldest first
 * with their flags: the filters every thread of the process has alike are installed once, by the leader, with
 * {@code SECCOMP_FILTER_FLAG_TSYNC}, so that they are one chain again, as TSYNC made them (a later TSYNC of the
 * program's then succeeds as it would have); strict mode is set last.
 */
public final class Seccomp {
    public static final int MODE_DISABLED = 0, MODE_STRICT = 1, MODE_FILTER = 2;
    /** ptrace: option to suspend the tracee's seccomp, and the two requests that read its filters. */
    public static final int O_SUSPEND_SECCOMP = 1 << 21;
    static final int PTRACE_SETOPTIONS = 0x4200, PTRACE_SECCOMP_GET_FILTER = 0x420c, PTRACE_SECCOMP_GET_METADATA = 0x420d;
    static final int SYS_PTRACE = 101, SYS_SECCOMP = 317;
    static final int SET_MODE_STRICT = 0, SET_MODE_FILTER = 1;
    public static final int FLAG_TSYNC = 1, FLAG_LOG = 2, FLAG_SPEC_ALLOW = 4, FLAG_NEW_LISTENER = 8;
    /** Flags a restore may pass as the image has them: the others make a listener fd or change how errors read. */
    static final int RESTORABLE_FLAGS = FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW;
    static final int RET_ACTION_FULL = 0xffff0000, RET_USER_NOTIF = 0x7fc00000, RET_TRACE = 0x7ff00000;
    static final int BPF_RET = 0x06, BPF_CLASS = 0x07, BPF_RVAL = 0x18, BPF_K = 0x00;
    /** The kernel's limits: instructions of one filter (BPF_MAXINSNS), and of a chain, 4 more each (MAX_INSNS_PER_PATH). */
    static final int MAX_INSNS = 4096, MAX_INSNS_PER_PATH = 32768, INSN_PENALTY = 4;
    static final int ENOENT = 2, EPERM = 1, EACCES = 13, EIO = 5, CAP_SYS_ADMIN = 21;
    static final int PR_SET_NO_NEW_PRIVS = 38;

    private Seccomp() {
    }

    /** One filter: its classic BPF instructions (struct sock_filter, 8 bytes each) and the flags it was installed with. */
    public record Filter(ByteString insns, int flags) {
        int length() {
            return insns.size() / 8;
        }
    }

    /**
     * A frozen thread's seccomp state.
     *
     * @param filters oldest first (empty unless mode is {@link #MODE_FILTER}, or when a pre-dump did not read them)
     */
    public record OfThread(int tid, int mode, boolean noNewPrivs, List<Filter> filters) {
    }

    // ---- dump

    /**
     * The seccomp state of a frozen process's threads, read before Cryo's first remote syscall in it: every thread
     * under seccomp is set {@code PTRACE_O_SUSPEND_SECCOMP} (on top of {@code traceOptions}, the freeze's), and with
     * {@code filters} its filters are read. Only the threads under seccomp, or whose no_new_privs is not the
     * leader's (the cores' creds are the leader's), are in it: empty for most processes.
     *
     * @param tids   the frozen threads, the leader ({@code pid}) first
     * @param leader the leader's status, read frozen
     * @param kernel the threads' rows from the kernel's iterator (their mode and no_new_privs), or null: each
     *               thread's /proc status is read
     */
    public static Map<Integer, OfThread> frozen(int pid, List<Integer> tids, TaskStatus leader, ProcFs proc,
                                                boolean filters, int traceOptions,
                                                Map<Integer, ThreadKernelView.Row> kernel, Log log) throws CryoException {
        Map<Integer, OfThread> out = new LinkedHashMap<>();
        boolean leaderNnp = "1".equals(leader.get("NoNewPrivs"));
        for (int tid : tids) {
            int mode;
            boolean nnp;
            if (tid == pid) {
                mode = leader.seccompMode();
                nnp = leaderNnp;
            } else if (kernel != null) {
                mode = kernel.get(tid).seccompMode(); // what /proc's status prints, read for all threads at once
                nnp = kernel.get(tid).noNewPrivs();
            } else {
                // each thread's own status, read frozen (a thread may enter seccomp until then): only the two lines
                // needed are looked for, no map made, as this runs for every thread in the frozen window
                String text;
                try {
                    text = dev.cryo.engine.sys.DirectFiles.readText(proc.dir(tid).resolve("status").toString());
                } catch (IOException e) {
                    throw new CryoException("cannot dump pid " + pid + ": cannot read the seccomp mode of its thread "
                            + tid + " in /proc/" + tid + "/status: " + e.getMessage());
                }
                mode = (int) statusNumber(text, "\nSeccomp:");
                nnp = statusNumber(text, "\nNoNewPrivs:") == 1;
            }
            if (mode == MODE_DISABLED && nnp == leaderNnp) {
                continue; // the core's creds, the leader's, say it already
            }
            List<Filter> chain = List.of();
            if (mode != MODE_DISABLED) {
                suspend(pid, tid, mode, traceOptions);
                if (filters && mode == MODE_FILTER) {
                    chain = readFilters(pid, tid, log);
                }
            }
            out.put(tid, new OfThread(tid, mode, nnp, chain));
        }
        return out;
    }

    /** The decimal number after {@code key} in a /proc status text, 0 when the line is missing. */
    static long statusNumber(String text, String key) {
        int at = text.indexOf(key);
        if (at < 0) {
            return 0;
        }
        int i = at + key.length(), n = text.length();
        while (i < n && (text.charAt(i) == ' ' || text.charAt(i) == '\t')) {
            i++;
        }
        long v = 0;
        while (i < n && text.charAt(i) >= '0' && text.charAt(i) <= '9') {
            v = v * 10 + (text.charAt(i++) - '0');
        }
        return v;
    }

    /** PTRACE_SETOPTIONS with PTRACE_O_SUSPEND_SECCOMP added: the thread's seccomp lets Cryo's remote calls through. */
    static void suspend(int pid, int tid, int mode, int traceOptions) throws CryoException {
        long r = Syscall.raw(SYS_PTRACE, PTRACE_SETOPTIONS, tid, 0, traceOptions | O_SUSPEND_SECCOMP);
        if (r < 0) {
            throw new CryoException("cannot dump pid " + pid + ": its thread " + tid + " runs under seccomp (mode "
                    + mode + ") and PTRACE_O_SUSPEND_SECCOMP was refused (" + SyscallException.describe((int) -r)
                    + "); Cryo needs it so that the thread's seccomp neither refuses nor kills Cryo's syscalls in it: "
                    + cryoCannotSuspend().orElse("it needs CAP_SYS_ADMIN and a kernel with CONFIG_CHECKPOINT_RESTORE"));
        }
    }

    /**
     * Why Cryo cannot suspend a tracee's seccomp or read its filters, from its own status: it needs CAP_SYS_ADMIN
     * and must not run under seccomp itself (the kernel refuses both to a confined tracer); empty when it can.
     */
    public static java.util.Optional<String> cryoCannotSuspend() {
        try {
            TaskStatus self = new ProcFs().status((int) ProcessHandle.current().pid());
            if (self.seccompMode() != MODE_DISABLED) {
                return java.util.Optional.of("Cryo runs under seccomp itself (mode " + self.seccompMode() + ", as a "
                        + "container's default profile sets), and the kernel lets no confined tracer suspend or read "
                        + "another's seccomp: run Cryo unconfined (docker: --security-opt seccomp=unconfined)");
            }
            if ((self.hex("CapEff") & (1L << CAP_SYS_ADMIN)) == 0) {
                return java.util.Optional.of("Cryo lacks CAP_SYS_ADMIN, which suspending and reading another's seccomp "
                        + "needs: run it as root");
            }
            return java.util.Optional.empty();
        } catch (IOException | RuntimeException e) {
            return java.util.Optional.of("Cryo cannot read its own /proc status: " + e.getMessage());
        }
    }

    /** A thread's filters, oldest first, with their flags; refuses a filter that can hand a syscall to a supervisor. */
    static List<Filter> readFilters(int pid, int tid, Log log) throws CryoException {
        List<Filter> oldestFirst = new ArrayList<>();
        NativeBuffer meta = NativeBuffer.allocate(16);
        for (int i = 0; ; i++) {
            long n = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_FILTER, tid, i, 0);
            if (n == -ENOENT) {
                break;
            }
            if (n <= 0 || n > MAX_INSNS) {
                throw new CryoException("cannot dump pid " + pid + ": reading seccomp filter " + i + " of its thread "
                        + tid + " with PTRACE_SECCOMP_GET_FILTER failed: " + (n < 0 ? SyscallException.describe((int) -n)
                        + (n == -EACCES || n == -EPERM ? " (" + cryoCannotSuspend().orElse("refused") + ")"
                        : n == -EIO ? " (a kernel without CONFIG_CHECKPOINT_RESTORE)" : "") : n + " instructions"));
            }
            NativeBuffer insns = NativeBuffer.allocate((int) n * 8);
            long got = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_FILTER, tid, i, insns.address());
            if (got != n) {
                throw new CryoException("cannot dump pid " + pid + ": seccomp filter " + i + " of its thread " + tid
                        + " read " + got + " instructions, " + n + " announced");
            }
            meta.putLong(0, i);
            meta.putLong(8, 0);
            long m = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_METADATA, tid, 16, meta.address());
            int flags = m >= 16 ? (int) meta.getLong(8) : 0; // EIO: a kernel before 4.16 tells no flags
            if (m < 0 && m != -EIO) {
                throw new CryoException("cannot dump pid " + pid + ": reading the flags of seccomp filter " + i
                        + " of its thread " + tid + " (PTRACE_SECCOMP_GET_METADATA) failed: "
                        + SyscallException.describe((int) -m));
            }
            Filter f = new Filter(ByteString.copyFrom(insns.bytes(0, (int) n * 8)), flags);
            String notif = refusal(f);
            if (notif != null) {
                throw new CryoException("cannot dump pid " + pid + ": seccomp filter " + i + " (0 is the oldest) of "
                        + "its thread " + tid + " " + notif);
            }
            if (returns(f, RET_TRACE)) {
                log.info("pid %d: seccomp filter %d of thread %d can return SECCOMP_RET_TRACE: with no tracer, such a "
                        + "syscall fails with ENOSYS, before the dump as after the restore", pid, i, tid);
            }
            oldestFirst.add(f);
        }
        return oldestFirst;
    }

    /**
     * Why a filter cannot be restored, or null: one that can return SECCOMP_RET_USER_NOTIF hands syscalls to a
     * supervisor through a listener fd, which no image holds and a restore cannot connect again (CRIU refuses it
     * too); flags other than TSYNC, LOG and SPEC_ALLOW (a listener's) cannot be passed again.
     */
    static String refusal(Filter f) {
        if (returns(f, RET_USER_NOTIF)) {
            return "can return SECCOMP_RET_USER_NOTIF: the supervisor that answers its syscalls through a listener fd "
                    + "cannot be checkpointed, and the filter would come back with nobody listening (CRIU refuses "
                    + "user-notification filters too)";
        }
        if ((f.flags() & ~RESTORABLE_FLAGS) != 0) {
            return "has flags 0x" + Integer.toHexString(f.flags()) + ", of which 0x"
                    + Integer.toHexString(f.flags() & ~RESTORABLE_FLAGS) + " cannot be set again (only TSYNC, LOG and "
                    + "SPEC_ALLOW can)";
        }
        return null;
    }

    /**
     * Whether a return instruction of the filter gives {@code action}. A filter returning its accumulator (never
     * seen from libseccomp or the kernel's samples) could give any: its actions are not known, and it is taken as is.
     */
    static boolean returns(Filter f, int action) {
        byte[] b = f.insns().toByteArray();
        java.nio.ByteBuffer w = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + 8 <= b.length; at += 8) {
            int code = w.getShort(at) & 0xffff;
            if ((code & BPF_CLASS) == BPF_RET && (code & BPF_RVAL) == BPF_K && (w.getInt(at + 4) & RET_ACTION_FULL) == action) {
                return true;
            }
        }
        return false;
    }

    /**
     * The tree's filters as seccomp.img holds them: each (filter, flags, next newer filter) once, numbered in the
     * order first met, newest first, so an entry's prev is always a lower index; threads whose chains are alike
     * name the same entries. Threads of a dump are added in tree order.
     */
    public static final class Dump {
        /** An entry's identity (no record: its indy-made equals would cost the first dump a bootstrap). */
        private static final class Key {
            final ByteString insns;
            final int flags, prev;

            Key(ByteString insns, int flags, int prev) {
                this.insns = insns;
                this.flags = flags;
                this.prev = prev;
            }

            @Override
            public boolean equals(Object o) {
                return o instanceof Key k && k.flags == flags && k.prev == prev && k.insns.equals(insns);
            }

            @Override
            public int hashCode() {
                return (insns.hashCode() * 31 + flags) * 31 + prev;
            }
        }

        private final List<seccomp_filter> entries = new ArrayList<>();
        private final Map<Key, Integer> index = new HashMap<>();

        /** The image index of a chain's oldest filter (the thread core's), each entry made once, newest first. */
        synchronized int add(List<Filter> chain) {
            int prev = -1;
            for (int i = chain.size() - 1; i >= 0; i--) {
                Filter f = chain.get(i);
                Key k = new Key(f.insns(), f.flags(), prev);
                Integer at = index.get(k);
                if (at == null) {
                    at = entries.size();
                    var e = seccomp_filter.newBuilder().setFilter(f.insns()).setFlags(f.flags());
                    if (prev >= 0) {
                        e.setPrev(prev);
                    }
                    entries.add(e.build());
                    index.put(k, at);
                }
                prev = at;
            }
            return prev;
        }

        /** The thread's core with its seccomp mode, newest filter and no_new_privs; as it was without any. */
        public core_entry into(core_entry core, OfThread t) {
            if (t == null || !core.hasThreadCore()) {
                return core;
            }
            var b = core.toBuilder();
            thread_core_entry.Builder th = b.getThreadCoreBuilder();
            if (t.mode() != MODE_DISABLED) {
                th.setSeccompMode(seccomp_mode.forNumber(t.mode()));
                if (t.mode() == MODE_FILTER && !t.filters().isEmpty()) {
                    th.setSeccompFilter(add(t.filters()));
                }
            }
            if (th.hasCreds()) {
                th.getCredsBuilder().setNoNewPrivs(t.noNewPrivs() ? 1 : 0); // per thread: creds are the leader's
            }
            return b.build();
        }

        public synchronized boolean isEmpty() {
            return entries.isEmpty();
        }

        /** seccomp.img's one entry. */
        public synchronized seccomp_entry entry() {
            return seccomp_entry.newBuilder().addAllSeccompFilters(entries).build();
        }
    }

    // ---- restore

    /** A thread as its image has it: mode, no_new_privs and filters (oldest first). */
    record ThreadPlan(int tid, int mode, boolean noNewPrivs, List<Filter> chain) {
    }

    /**
     * seccomp.img, read once for the tree, and each task's threads checked against it before any task is made: a
     * corrupted index or length, a chain longer than the kernel takes, a filter that cannot be restored, or a
     * Cryo that could not restore them is refused while nothing is made yet.
     */
    public static final class Restore {
        private final List<seccomp_filter> filters;

        private Restore(List<seccomp_filter> filters) {
            this.filters = filters;
        }

        /** seccomp.img of {@code dir} (none, or an empty one: no filters). */
        public static Restore load(ImageDir dir) throws CryoException {
            try {
                if (!dir.exists("seccomp.img")) {
                    return new Restore(List.of());
                }
                return new Restore(dir.seccomp().getSeccompFiltersList());
            } catch (IOException | RuntimeException e) {
                throw new CryoException("cannot restore from " + dir.path() + ": cannot read seccomp.img: " + e.getMessage(), e);
            }
        }

        /**
         * What a task's threads get back, checked; null when none has seccomp or no_new_privs.
         *
         * @param threads the other threads' cores by tid (the leader's is {@code leader})
         */
        public Task plan(int pid, core_entry leader, Map<Integer, core_entry> threads) throws CryoException {
            List<ThreadPlan> out = new ArrayList<>();
            boolean any = false;
            Map<Integer, core_entry> all = new LinkedHashMap<>();
            all.put(pid, leader);
            all.putAll(threads);
            for (Map.Entry<Integer, core_entry> e : all.entrySet()) {
                ThreadPlan t = thread(pid, e.getKey(), e.getValue().getThreadCore());
                out.add(t);
                any |= t.mode() != MODE_DISABLED || t.noNewPrivs();
            }
            if (!any) {
                return null;
            }
            boolean confined = false;
            for (ThreadPlan t : out) {
                confined |= t.mode() != MODE_DISABLED;
            }
            if (confined) {
                var why = cryoCannotSuspend();
                if (why.isPresent()) {
                    throw new CryoException("cannot restore pid " + pid + ": it ran under seccomp, which Cryo cannot "
                            + "give back: " + why.get());
                }
            }
            return new Task(pid, out);
        }

        private ThreadPlan thread(int pid, int tid, thread_core_entry th) throws CryoException {
            String who = "cannot restore pid " + pid + ": thread " + tid + "'s core";
            boolean nnp = th.hasCreds() && th.getCreds().getNoNewPrivs() != 0;
            int mode = th.hasSeccompMode() ? th.getSeccompMode().getNumber() : MODE_DISABLED;
            if (mode != MODE_DISABLED && mode != MODE_STRICT && mode != MODE_FILTER) {
                throw new CryoException(who + " has seccomp mode " + mode + ", which no kernel knows");
            }
            if (mode != MODE_FILTER) {
                return new ThreadPlan(tid, mode, nnp, List.of());
            }
            if (!th.hasSeccompFilter()) {
                throw new CryoException(who + " has seccomp mode filter but names no filter of seccomp.img");
            }
            List<Filter> chain = new ArrayList<>(); // from the core's, the oldest, through each prev, the next newer
            Set<Integer> seen = new HashSet<>();
            int insns = 0;
            for (int at = th.getSeccompFilter(); ; ) {
                if (at < 0 || at >= filters.size()) {
                    throw new CryoException(who + " names seccomp filter " + at + ", seccomp.img has "
                            + filters.size() + " (a corrupted image)");
                }
                if (!seen.add(at)) {
                    throw new CryoException(who + " names a seccomp filter chain that loops at filter " + at
                            + " of seccomp.img (a corrupted image)");
                }
                seccomp_filter sf = filters.get(at);
                int bytes = sf.getFilter().size();
                if (bytes == 0 || bytes % 8 != 0 || bytes / 8 > MAX_INSNS) {
                    throw new CryoException("cannot restore pid " + pid + ": seccomp filter " + at + " of seccomp.img "
                            + "has " + bytes + " bytes, not 1 to " + MAX_INSNS + " instructions of 8 (a corrupted image)");
                }
                Filter f = new Filter(sf.getFilter(), sf.getFlags());
                String no = refusal(f);
                if (no != null) {
                    throw new CryoException("cannot restore pid " + pid + ": seccomp filter " + at + " of seccomp.img "
                            + "(thread " + tid + ") " + no);
                }
                insns += f.length() + INSN_PENALTY;
                chain.add(f);
                if (!sf.hasPrev()) {
                    break;
                }
                at = sf.getPrev();
            }
            if (insns > MAX_INSNS_PER_PATH) {
                throw new CryoException(who + " names " + chain.size() + " seccomp filters of " + insns
                        + " instructions with the kernel's overhead, more than the " + MAX_INSNS_PER_PATH + " it takes");
            }
            return new ThreadPlan(tid, mode, nnp, chain);
        }
    }

    /** A task's threads to give their seccomp state back, the leader first. */
    public static final class Task {
        private final int pid;
        private final List<ThreadPlan> threads;

        Task(int pid, List<ThreadPlan> threads) {
            this.pid = pid;
            this.threads = threads;
        }

        /**
         * How many of the oldest filters every thread has alike: the leader installs those with TSYNC, and the
         * process has one chain of them again. 0 for a single thread, or when a thread has no filter.
         */
        int shared() {
            if (threads.size() < 2) {
                return 0;
            }
            int n = Integer.MAX_VALUE;
            for (ThreadPlan t : threads) {
                if (t.mode() != MODE_FILTER) {
                    return 0;
                }
                n = Math.min(n, t.chain().size());
            }
            for (int i = 0; i < n; i++) {
                Filter f = threads.get(0).chain().get(i);
                for (ThreadPlan t : threads) {
                    Filter g = t.chain().get(i);
                    if (g.flags() != f.flags() || !g.insns().equals(f.insns())) {
                        return i;
                    }
                }
            }
            return n;
        }

        /**
         * In the built task, before its credentials: suspends every thread's seccomp for Cryo's remaining calls (on
         * top of {@code traceOptions}, the restore's own), sets no_new_privs, installs the filters, shared ones once
         * with TSYNC, then strict mode; checks /proc shows every thread's mode and count.
         *
         * @param inThread remote syscalls in each thread by its tid in the image, the leader's included
         */
        public void restore(Map<Integer, RemoteSyscall> inThread, RemoteScratch scratch, RemoteMemory memory,
                            int traceOptions, Log log) throws SyscallException, CryoException {
            // plain loops, no streams: the first lambda of a cold JVM costs milliseconds to bootstrap
            boolean confined = false, tsyncInImage = false;
            int longest = 0, count = 0;
            for (ThreadPlan t : threads) {
                if (t.mode() != MODE_DISABLED) {
                    confined = true;
                    count++;
                }
                for (Filter f : t.chain()) {
                    longest = Math.max(longest, f.length());
                    tsyncInImage |= (f.flags() & FLAG_TSYNC) != 0;
                }
            }
            if (confined) {
                for (ThreadPlan t : threads) {
                    int host = inThread.get(t.tid()).pid();
                    long r = Syscall.raw(SYS_PTRACE, PTRACE_SETOPTIONS, host, 0, traceOptions | O_SUSPEND_SECCOMP);
                    if (r < 0) {
                        throw new SyscallException("ptrace(SETOPTIONS, PTRACE_O_SUSPEND_SECCOMP) of thread " + t.tid()
                                + " (" + cryoCannotSuspend().orElse("needed before its filters are installed") + ")",
                                (int) -r);
                    }
                }
            }
            for (ThreadPlan t : threads) {
                if (t.noNewPrivs()) {
                    inThread.get(t.tid()).call("prctl(PR_SET_NO_NEW_PRIVS) in thread " + t.tid(), Syscall.PRCTL,
                            PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                }
            }
            if (!confined) {
                return;
            }
            RemoteScratch area = scratch;
            if (16 + 8L * longest > scratch.size()) {
                area = RemoteScratch.map(memory, inThread.get(pid), 0, 16 + 8 * longest); // unmapped below
            }
            try {
                int shared = shared();
                ThreadPlan leader = threads.get(0);
                for (int i = 0; i < shared; i++) {
                    install(inThread.get(pid), area, leader.chain().get(i), FLAG_TSYNC, pid, i);
                }
                for (ThreadPlan t : threads) {
                    for (int i = shared; i < t.chain().size(); i++) {
                        install(inThread.get(t.tid()), area, t.chain().get(i), 0, t.tid(), i);
                    }
                }
                for (ThreadPlan t : threads) {
                    if (t.mode() == MODE_STRICT) {
                        inThread.get(t.tid()).call("seccomp(SECCOMP_SET_MODE_STRICT) in thread " + t.tid(), SYS_SECCOMP,
                                SET_MODE_STRICT, 0, 0);
                    }
                }
                log.debug("pid %d: seccomp back in %d threads (%d filters shared through TSYNC)", pid, count, shared);
            } finally {
                if (area != scratch) {
                    area.release();
                }
            }
            verify(inThread, tsyncInImage);
        }

        private static void install(RemoteSyscall in, RemoteScratch area, Filter f, int extraFlags, int tid, int index)
                throws SyscallException, CryoException {
            NativeBuffer prog = NativeBuffer.allocate(16);
            prog.putLong(0, f.length()); // struct sock_fprog: unsigned short len, then the pointer at 8
            prog.putLong(8, area.address() + 16);
            byte[] b = new byte[16 + f.insns().size()];
            System.arraycopy(prog.bytes(0, 16), 0, b, 0, 16);
            f.insns().copyTo(b, 16);
            area.write(0, b);
            int flags = f.flags() | extraFlags;
            long r = in.call("seccomp(SECCOMP_SET_MODE_FILTER, 0x" + Integer.toHexString(flags) + ") of filter " + index
                    + " in thread " + tid, SYS_SECCOMP, SET_MODE_FILTER, flags, area.address());
            if (r != 0) {
                // TSYNC answers the first thread it could not synchronise
                throw new CryoException("seccomp filter " + index + " (oldest first) installed with TSYNC in thread " + tid
                        + " could not reach thread " + r + ", whose filters differ");
            }
        }

        /**
         * /proc's Seccomp and Seccomp_filters of every thread against the image. A CRIU image of threads that all
         * had the same filters holds them once, in the leader, flagged TSYNC, and the other threads without any
         * (they get the leader's): those are not compared.
         */
        private void verify(Map<Integer, RemoteSyscall> inThread, boolean tsyncInImage) throws CryoException {
            ProcFs proc = new ProcFs();
            for (ThreadPlan t : threads) {
                if (tsyncInImage && t.mode() == MODE_DISABLED) {
                    continue;
                }
                int host = inThread.get(t.tid()).pid();
                try {
                    TaskStatus s = proc.status(host);
                    String count = s.get("Seccomp_filters");
                    if (s.seccompMode() != t.mode() || !count.isEmpty() && Integer.parseInt(count) != t.chain().size()) {
                        throw new CryoException("thread " + t.tid() + " has seccomp mode " + s.seccompMode() + " with "
                                + count + " filters after its restore, its image mode " + t.mode() + " with "
                                + t.chain().size());
                    }
                } catch (IOException e) {
                    throw new CryoException("cannot read /proc/" + host + "/status of restored thread " + t.tid() + ": "
                            + e.getMessage());
                }
            }
        }
    }
}
