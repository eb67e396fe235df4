package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.seccomp_entry;
import dev.cryo.image.proto.seccomp_filter;
import dev.cryo.image.proto.seccomp_mode;

import com.google.protobuf.ByteString;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Seccomp filters (mode 2, {@code SECCOMP_MODE_FILTER}): a container runtime installs one in every container (Podman's
 * and Docker's default profiles), so a container's init runs under one.
 *
 * <p>Dump: each thread's chain is read with {@code PTRACE_SECCOMP_GET_FILTER} (index 0 is the oldest filter, the
 * first installed) and
 * {@code PTRACE_SECCOMP_GET_METADATA} (its {@code SECCOMP_FILTER_FLAG_LOG}), as CRIU does. {@code seccomp.img} holds
 * one table for the tree: each filter once, with the index of the one installed before it ({@code prev}, absent for
 * the first); a thread's {@code thread_core.seccomp_filter} is the index of its newest and {@code seccomp_mode} is
 * {@code filter}. Threads and processes that inherited the same chain share its entries. Before any remote syscall
 * the task's threads are traced with {@code PTRACE_O_SUSPEND_SECCOMP}: otherwise the filter would judge the syscalls
 * Cryo makes in them, and one that answers KILL for them would end the target.
 *
 * <p>Restore: the filters go in last but the credentials (a container's init has no CAP_SYS_ADMIN and no
 * no_new_privs once they are set, and seccomp() needs one of them), oldest first, by a remote {@code seccomp()} in
 * each thread; the thread is traced with {@code PTRACE_O_SUSPEND_SECCOMP} first, so the credentials and the last
 * remote syscalls are not judged by them; they take effect when Cryo detaches. {@code TSYNC} is not used: every thread
 * gets its own chain installed. Strict mode (1) is refused at dump: a task in it can make no syscall Cryo needs.
 */
public final class SeccompFilters {
    static final int PTRACE_SETOPTIONS = 0x4200, PTRACE_SECCOMP_GET_FILTER = 0x420c,
            PTRACE_SECCOMP_GET_METADATA = 0x420d, SYS_PTRACE = 101, SYS_SECCOMP = 317;
    public static final int O_SUSPEND_SECCOMP = 1 << 21;
    static final int SECCOMP_SET_MODE_FILTER = 1, SECCOMP_FILTER_FLAG_LOG = 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4;
    static final int ENOENT = 2, EINVAL = 22, EPERM = 1, EACCES = 13;

    private SeccompFilters() {
    }

    /** One filter as read: its BPF instructions (8 bytes each) and its flags. */
    public record Filter(byte[] program, int flags) {
    }

    /**
     * Traces {@code tids} (threads of {@code pid}, stopped by this tracer with {@code options}) with seccomp
     * suspended, so the remote syscalls of the dump are not judged by their filters.
     */
    public static void suspend(int pid, List<Integer> tids, int options) throws CryoException {
        for (int tid : tids) {
            long r = Syscall.raw(SYS_PTRACE, PTRACE_SETOPTIONS, tid, 0, options | O_SUSPEND_SECCOMP);
            if (r < 0) {
                throw new CryoException("cannot dump pid " + pid + ": its thread " + tid + " runs under a seccomp filter"
                        + " and PTRACE_O_SUSPEND_SECCOMP was refused (" + SyscallException.describe((int) -r)
                        + "): Cryo needs CAP_SYS_ADMIN and no seccomp filter of its own to dump it (run it outside"
                        + " the container, or with seccomp unconfined)");
            }
        }
    }

    /**
     * Whether thread {@code tid} (stopped, traced by this thread) runs under a filter: one ptrace call, which answers
     * EINVAL outside filter mode; {@code /proc}'s Seccomp line when Cryo may not ask (EACCES: no CAP_SYS_ADMIN, or a
     * filter of its own).
     */
    public static boolean filtered(int tid, dev.cryo.engine.proc.ProcFs proc) throws java.io.IOException {
        long r = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_FILTER, tid, 0, 0);
        if (r >= 0) {
            return true;
        }
        if (r == -EINVAL) {
            return false;
        }
        return proc.status(tid).seccompMode() == 2;
    }

    /** The chain of thread {@code tid} (stopped, traced by this thread), oldest first; empty when it has none. */
    public static List<Filter> read(int pid, int tid) throws CryoException {
        List<Filter> oldestFirst = new ArrayList<>(); // the kernel counts filter_off from the oldest
        for (int index = 0; ; index++) {
            long count = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_FILTER, tid, index, 0);
            if (count == -ENOENT || (count == -EINVAL && index == 0)) {
                break; // past the newest filter; EINVAL at 0: the thread is not in filter mode
            }
            if (count < 0) {
                throw new CryoException("cannot dump pid " + pid + ": reading seccomp filter " + index + " of thread "
                        + tid + " failed (PTRACE_SECCOMP_GET_FILTER: " + SyscallException.describe((int) -count)
                        + "); it needs CAP_SYS_ADMIN and a Cryo under no seccomp filter of its own");
            }
            NativeBuffer program = NativeBuffer.allocate((int) count * 8);
            long got = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_FILTER, tid, index, program.address());
            if (got != count) {
                throw new CryoException("cannot dump pid " + pid + ": seccomp filter " + index + " of thread " + tid
                        + " changed while read (" + count + " then " + got + " instructions)");
            }
            NativeBuffer meta = NativeBuffer.allocate(16); // struct seccomp_metadata {u64 filter_off; u64 flags}
            meta.putLong(0, index);
            meta.putLong(8, 0);
            long m = Syscall.raw(SYS_PTRACE, PTRACE_SECCOMP_GET_METADATA, tid, 16, meta.address());
            int flags = m < 0 ? 0 : (int) meta.getLong(8) & (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
            oldestFirst.add(new Filter(program.bytes(0, (int) count * 8), flags));
        }
        return oldestFirst;
    }

    /** The tree's filters, each once: {@code seccomp.img}. Threads are added in the order their cores are written. */
    public static final class Table {
        private final List<seccomp_filter> entries = new ArrayList<>();
        private final Map<String, Integer> index = new HashMap<>();

        /** Sets the core's seccomp fields for {@code chain} (oldest first), adding what the table lacks. */
        public synchronized void into(core_entry.Builder core, List<Filter> chain) {
            if (chain == null || chain.isEmpty()) {
                return;
            }
            int prev = -1;
            for (Filter f : chain) {
                String key = prev + "/" + f.flags() + "/" + java.util.HexFormat.of().formatHex(f.program());
                Integer at = index.get(key);
                if (at == null) {
                    seccomp_filter.Builder e = seccomp_filter.newBuilder().setFilter(ByteString.copyFrom(f.program()))
                            .setFlags(f.flags());
                    if (prev >= 0) {
                        e.setPrev(prev);
                    }
                    at = entries.size();
                    entries.add(e.build());
                    index.put(key, at);
                }
                prev = at;
            }
            core.getThreadCoreBuilder().setSeccompMode(seccomp_mode.filter).setSeccompFilter(prev);
        }

        public synchronized seccomp_entry entry() {
            return seccomp_entry.newBuilder().addAllSeccompFilters(entries).build();
        }
    }

    /**
     * The chain a thread's core names (oldest first), from {@code seccomp.img}; empty when it runs without one.
     * Refused before anything is made when the table lacks an entry or the mode is strict.
     */
    public static List<seccomp_filter> chainOf(int pid, core_entry core, seccomp_entry table) throws CryoException {
        var tc = core.getThreadCore();
        if (!tc.hasSeccompMode() || tc.getSeccompMode() == seccomp_mode.disabled) {
            return List.of();
        }
        if (tc.getSeccompMode() != seccomp_mode.filter) {
            throw new CryoException("cannot restore pid " + pid + ": its image has seccomp mode " + tc.getSeccompMode()
                    + ", which Cryo does not restore (only filter mode)");
        }
        List<seccomp_filter> chain = new ArrayList<>();
        int at = tc.getSeccompFilter();
        for (int hops = 0; ; hops++) {
            if (at < 0 || at >= table.getSeccompFiltersCount() || hops > table.getSeccompFiltersCount()) {
                throw new CryoException("cannot restore pid " + pid + ": its seccomp filter " + at + " is not in"
                        + " seccomp.img (" + table.getSeccompFiltersCount() + " filters): the images are damaged");
            }
            seccomp_filter f = table.getSeccompFilters(at);
            chain.add(0, f);
            if (!f.hasPrev()) {
                return chain;
            }
            at = f.getPrev();
        }
    }

    /**
     * Installs {@code chain} (oldest first) in the thread {@code thread} runs in ({@code tid} on the host), after
     * tracing it with seccomp suspended ({@code options} are the restore's ptrace options). {@code memory} and
     * {@code leader} map the programs in the task, one at a time.
     */
    public static void install(int pid, int tid, RemoteSyscall thread, RemoteMemory memory, RemoteSyscall leader,
                               List<seccomp_filter> chain, int options, Log log) throws CryoException {
        if (chain.isEmpty()) {
            return;
        }
        long r = Syscall.raw(SYS_PTRACE, PTRACE_SETOPTIONS, tid, 0, options | O_SUSPEND_SECCOMP);
        if (r < 0) {
            throw new CryoException("cannot restore pid " + pid + ": thread " + tid + " needs its seccomp filters and"
                    + " PTRACE_O_SUSPEND_SECCOMP was refused (" + SyscallException.describe((int) -r) + "): Cryo needs"
                    + " CAP_SYS_ADMIN and no seccomp filter of its own");
        }
        int n = 0;
        for (seccomp_filter f : chain) {
            byte[] program = f.getFilter().toByteArray();
            if (program.length == 0 || program.length % 8 != 0 || program.length / 8 > 0xffff) {
                throw new CryoException("cannot restore pid " + pid + ": a seccomp filter of thread " + tid + " is "
                        + program.length + " bytes, not a BPF program: the images are damaged");
            }
            RemoteScratch area = null;
            try {
                // struct sock_fprog {u16 len; (pad) ; struct sock_filter *filter} at 0, the instructions from 16
                area = RemoteScratch.map(memory, leader, 0, 16 + program.length);
                NativeBuffer prog = NativeBuffer.allocate(16);
                prog.putLong(0, program.length / 8);
                prog.putLong(8, area.address() + 16);
                area.write(0, prog.bytes(0, 16));
                area.write(16, program);
                int flags = f.getFlags() & (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
                thread.call("seccomp(SECCOMP_SET_MODE_FILTER)", SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, flags,
                        area.address());
                n++;
            } catch (SyscallException e) {
                throw new CryoException("cannot restore pid " + pid + ": installing seccomp filter " + (n + 1) + " of "
                        + chain.size() + " in thread " + tid + " failed: " + e.getMessage(), e);
            } finally {
                if (area != null) {
                    try {
                        area.release();
                    } catch (SyscallException e) {
                        log.warn("pid %d: unmapping the seccomp program's area failed: %s", pid, e.getMessage());
                    }
                }
            }
        }
        log.debug("pid %d: thread %d: %d seccomp filters installed", pid, tid, n);
    }
}
