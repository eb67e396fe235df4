package dev.cryo.engine.resource;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Open file descriptions that several tasks of a restored tree hold (inherited across fork, or both ends of a
 * pipe between them). The first task to need one makes it the way its kind does; Cryo then keeps a copy
 * ({@code pidfd_getfd} into Cryo), and every later task gets that copy ({@code pidfd_getfd} from Cryo, run in
 * the task). Why not open it in the creator before the fork: the plan forks every task before any is built,
 * and a description may be shared by tasks that are not parent and child (cousins, or one passed over a unix
 * socket); going through Cryo serves any pair, costs two syscalls per extra holder, and keeps the fd numbers of
 * each task its own. Cryo's copies close when the restore ends, before anything runs on.
 */
public final class SharedFiles implements AutoCloseable {
    static final int F_SETFD = 2;

    private final Set<Integer> shared;
    private final Set<Integer> inFlight;
    private final Map<Integer, Integer> byFileId = new HashMap<>();
    private final List<Integer> ours = new ArrayList<>();
    private final List<Runnable> atClose = new ArrayList<>();

    /** @param shared the ids of files.img entries that more than one task's fdinfo names */
    public SharedFiles(Set<Integer> shared) {
        this(shared, Set.of());
    }

    /**
     * @param shared   the ids of files.img entries that more than one task's fdinfo names, or a queue passes
     * @param inFlight those no task holds: only a unix socket's queue does (SCM_RIGHTS sent, not yet received)
     */
    public SharedFiles(Set<Integer> shared, Set<Integer> inFlight) {
        this.shared = Set.copyOf(shared);
        this.inFlight = new java.util.TreeSet<>(inFlight);
    }

    /**
     * The files in flight not made yet; the first task built makes them ({@code TaskBuilder}), each at a number of
     * its own for a moment, Cryo keeping a copy, for the queues that pass them.
     */
    public List<Integer> inFlightToMake() {
        return inFlight.stream().filter(id -> !byFileId.containsKey(id)).toList();
    }

    /** The ids of the files the unix sockets' queues pass (SCM_RIGHTS in sk-queues.img). */
    public static Set<Integer> passedFileIds(dev.cryo.image.ImageDir dir) throws dev.cryo.engine.CryoException {
        return UnixRestore.passedFileIds(dir);
    }

    /** The restore's shared files (an empty set where the restore registered none). */
    public static SharedFiles of(FdRestoreContext ctx) {
        return (SharedFiles) ctx.state().computeIfAbsent(SharedFiles.class, k -> new SharedFiles(Set.of()));
    }

    /** Makes this the one {@link #of} gives for {@code state}. */
    public void register(Map<Object, Object> state) {
        state.put(SharedFiles.class, this);
    }

    public boolean isShared(int fileId) {
        return shared.contains(fileId);
    }

    /** Cryo's copy of file {@code fileId}, or null when no task has made it yet. */
    public Integer held(int fileId) {
        return byFileId.get(fileId);
    }

    /** Cryo takes a copy of fd {@code fd} of task {@code pid}, as the description of {@code fileId}. */
    public void take(int pid, int fd, int fileId) throws SyscallException {
        byFileId.put(fileId, take(pid, fd));
    }

    /** Cryo takes a copy of fd {@code fd} of task {@code pid}; returns Cryo's fd, closed at {@link #close}. */
    public int take(int pid, int fd) throws SyscallException {
        int pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
        try {
            int mine = (int) Syscall.call("pidfd_getfd(" + pid + ", " + fd + ")", Syscall.PIDFD_GETFD, pidfd, fd, 0);
            ours.add(mine);
            return mine;
        } finally {
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }

    /** Puts Cryo's fd {@code mine} into the task; returns its fd there, close-on-exec cleared. */
    public int give(FdRestoreContext ctx, int mine) throws SyscallException {
        if (FdPassing.needed(ctx.pid())) { // a container's task: Cryo has no pid in its namespace
            int fd = FdPassing.give(ctx.pid(), ctx.syscall(), ctx.scratch(), ctx.scratch().size() - FdPassing.SCRATCH,
                    mine);
            ctx.syscall().call("fcntl(F_SETFD)", Syscall.FCNTL, fd, F_SETFD, 0);
            return fd;
        }
        long me = ProcessHandle.current().pid();
        int pidfd = (int) ctx.syscall().call("pidfd_open(cryo)", Syscall.PIDFD_OPEN, me, 0);
        try {
            int fd = (int) ctx.syscall().call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, mine, 0);
            ctx.syscall().call("fcntl(F_SETFD)", Syscall.FCNTL, fd, F_SETFD, 0);
            return fd;
        } finally {
            ctx.syscall().raw(Syscall.CLOSE, pidfd);
        }
    }

    /** Work for when Cryo's copies go (every task built, none running yet; or a failed restore). */
    public void atClose(Runnable work) {
        atClose.add(work);
    }

    /** Cryo's copies go: a pipe's reader sees its end once the tasks' writers close, not Cryo's. */
    @Override
    public void close() {
        atClose.forEach(Runnable::run);
        atClose.clear();
        for (int fd : ours) {
            Syscall.raw(Syscall.CLOSE, fd);
        }
        ours.clear();
        byFileId.clear();
        inFlight.clear();
    }
}
