package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.StuckThread;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Freezes a process and all its descendants, every thread of each. A frozen task cannot fork, but a task may fork
 * before it is frozen: so the children of every frozen task are listed again until a listing brings no new
 * process. With tracers ({@link #withTracers}) each task is attached by its own tracer thread, a level of the tree
 * at a time, all of a level at once. Zombies cannot be seized and need not be: they are read from /proc. On any failure every thread frozen
 * so far is let go as it was, and the error names the process. Runs on the tracer thread.
 */
public final class TreeFreezer {
    /** The processes of a tree, for tests that fail a listing. */
    @FunctionalInterface
    public interface Children {
        List<Integer> of(int pid) throws IOException;
    }

    private final ProcFs proc;
    private final Children children;
    private final int options;
    private final Map<Integer, List<Integer>> frozen = new LinkedHashMap<>(); // pid -> its threads, leader first
    private java.time.Duration timeout;
    /** The freeze's deadline for every thread's stop, set when it starts. */
    private Freezer.Bound bound = Freezer.Bound.of(null);
    /** The tracer that attaches each task (null: this thread attaches them all). */
    private java.util.function.IntFunction<Tracer> tracers = pid -> null;
    /** The freezer cgroup the tree is frozen through (--freeze-cgroup); null: by ptrace alone. */
    private FreezerCgroup cgroup;
    private dev.cryo.engine.log.Log log;

    public TreeFreezer(ProcFs proc, int options) {
        this(proc, options, proc::children);
    }

    public TreeFreezer(ProcFs proc, int options, Children children) {
        this.proc = proc;
        this.options = options;
        this.children = children;
    }

    /**
     * Each task is frozen by the tracer this gives it (its requests must later come from that thread), the tasks
     * of one level of the tree all at once; null leaves a task to the calling thread.
     */
    public TreeFreezer withTracers(java.util.function.IntFunction<Tracer> tracers) {
        this.tracers = tracers;
        return this;
    }

    /** The tree is frozen through {@code cgroup} first, as CRIU's --freeze-cgroup; {@code log} tells how. */
    TreeFreezer withCgroup(FreezerCgroup cgroup, dev.cryo.engine.log.Log log) {
        this.cgroup = cgroup;
        this.log = log;
        return this;
    }

    /** How long the freeze waits for a thread to stop (CRIU's --timeout), from the start of {@link #freeze}. */
    TreeFreezer withTimeout(java.time.Duration timeout) {
        this.timeout = timeout;
        return this;
    }

    /** The freezer cgroup the tree was frozen through, or null. */
    FreezerCgroup cgroup() {
        return cgroup;
    }

    private void log(String format, Object... args) {
        if (log != null) {
            log.info(format, args);
        }
    }

    /** Every frozen process with its frozen threads, parents before children. */
    public Map<Integer, List<Integer>> frozen() {
        return frozen;
    }

    /** What freezing one task gave: its threads, none when it left the tree meanwhile, or the failure. */
    private record Outcome(List<Integer> tids, SyscallException error) {
    }

    /**
     * Freezes the tree under {@code root}, a level at a time: a frozen task's children are final, and are the next
     * level. Through a freezer cgroup ({@link #withCgroup}) every task is first held by the cgroup and seized there.
     *
     * @throws SyscallException naming the process that could not be frozen; nothing stays frozen
     * @throws CryoException    the freezer cgroup did not freeze, or its tasks are not the tree's; nothing stays frozen
     */
    public Map<Integer, List<Integer>> freeze(int root) throws SyscallException, CryoException {
        bound = Freezer.Bound.of(timeout);
        try {
            if (cgroup != null) {
                freezeThroughCgroup(root);
            }
            Set<Integer> walked = new HashSet<>(); // tasks whose children were listed
            List<Integer> level = List.of(root);
            while (!level.isEmpty()) {
                freezeLevel(level, root);
                List<Integer> next = new ArrayList<>();
                for (int pid : level) {
                    if (frozen.containsKey(pid) && walked.add(pid)) {
                        try {
                            next.addAll(children.of(pid)); // frozen: its list of children is final
                        } catch (IOException e) {
                            throw new SyscallException("listing the children of " + pid + " (" + e.getMessage() + ")", 3);
                        }
                    }
                }
                level = next;
            }
            return frozen;
        } catch (SyscallException | CryoException | RuntimeException e) {
            release();
            throw e;
        }
    }

    /** Freezes the tasks of {@code level} not frozen yet, all at once, each on its tracer. */
    private void freezeLevel(List<Integer> level, int root) throws SyscallException {
        List<Integer> todo = new ArrayList<>();
        for (int pid : level) {
            if (!frozen.containsKey(pid) && !todo.contains(pid) && !zombie(pid, pid == root)) {
                todo.add(pid);
            }
        }
        adopt(onTracers(todo, root, pid -> freezeOne(pid, root)));
    }

    /** The tasks that froze join {@link #frozen}; then the first failure is thrown (the release lets them all go). */
    private void adopt(Map<Integer, Outcome> outcomes) throws SyscallException {
        SyscallException failed = null;
        for (Map.Entry<Integer, Outcome> e : outcomes.entrySet()) {
            Outcome o = e.getValue();
            if (o.error() != null) {
                failed = failed == null ? o.error() : failed;
            } else if (o.tids() != null) {
                frozen.put(e.getKey(), o.tids());
            }
        }
        if (failed != null) {
            throw failed; // after every task that froze is listed, for the release
        }
    }

    /** One task's part of a freeze, run on its tracer. */
    private interface Job {
        Outcome run(int pid);
    }

    /** Runs {@code job} for each of {@code pids} on that task's tracer, all at once, and gathers the outcomes. */
    private Map<Integer, Outcome> onTracers(List<Integer> pids, int root, Job job) {
        Map<Integer, java.util.concurrent.Future<Outcome>> started = new LinkedHashMap<>();
        Map<Integer, Outcome> outcomes = new LinkedHashMap<>();
        for (int pid : pids) {
            Tracer t = tracers.apply(pid);
            if (t == null) {
                outcomes.put(pid, job.run(pid));
            } else {
                started.put(pid, t.submit(() -> job.run(pid)));
            }
        }
        for (Map.Entry<Integer, java.util.concurrent.Future<Outcome>> e : started.entrySet()) {
            try {
                outcomes.put(e.getKey(), Tracer.await(e.getValue()));
            } catch (dev.cryo.engine.CryoException | RuntimeException x) {
                outcomes.put(e.getKey(), new Outcome(null, new SyscallException("process " + e.getKey()
                        + " of the tree of " + root + ": " + x.getMessage(), 3)));
            }
        }
        Map<Integer, Outcome> ordered = new LinkedHashMap<>();
        for (int pid : pids) {
            ordered.put(pid, outcomes.get(pid));
        }
        return ordered;
    }

    // ---- through the freezer cgroup (--freeze-cgroup), as CRIU freezes

    /**
     * Holds every task of the tree by the freezer cgroup, checks the cgroup holds the tree and nothing else, seizes
     * and interrupts every thread while none can fork or exit, thaws the cgroup, and waits for each thread's
     * interrupt stop: the tree ends in ptrace stops as a freeze by ptrace alone leaves it. A stopped task (SIGSTOP)
     * is left to the freeze by ptrace that follows, once thawed: seizing a stopped task waits until it traps again,
     * which a frozen one cannot, and stopped, it can neither fork nor exit. On failure the cgroup is thawed (frozen
     * again if it was before) and every task let go.
     */
    private void freezeThroughCgroup(int root) throws SyscallException, CryoException {
        cgroup.freeze();
        Map<Integer, List<Integer>> seized = new LinkedHashMap<>();
        boolean thawed = false;
        try {
            Map<Integer, List<Integer>> tree = tree(root); // the cgroup is frozen: the tree is final
            requireSameTasks(tree, root);
            Map<Integer, Outcome> outcomes;
            try (Watchdog w = new Watchdog(cgroup)) {
                List<Integer> todo = new ArrayList<>();
                for (Map.Entry<Integer, List<Integer>> t : tree.entrySet()) {
                    if (ProcessTree.groupStopped(t.getKey(), t.getValue())) {
                        log("pid %d is stopped: frozen by ptrace once the cgroup is thawed", t.getKey());
                    } else {
                        todo.add(t.getKey());
                    }
                }
                outcomes = onTracers(todo, root, pid -> seizeFrozen(pid, tree.get(pid), root));
            }
            outcomes.forEach((pid, o) -> {
                if (o.tids() != null && !o.tids().isEmpty()) {
                    seized.put(pid, o.tids());
                }
            });
            cgroup.thaw();
            thawed = true;
            Map<Integer, Outcome> failedSeize = new LinkedHashMap<>();
            outcomes.forEach((pid, o) -> {
                if (o.error() != null) {
                    failedSeize.put(pid, o);
                }
            });
            if (!failedSeize.isEmpty()) {
                adopt(onTracers(new ArrayList<>(seized.keySet()), root, pid -> stopSeized(pid, seized.get(pid), root,
                        false)));
                adopt(failedSeize);
            }
            Map<Integer, List<Integer>> held = new LinkedHashMap<>(seized);
            seized.clear(); // each task's outcome says what of it is held from here on
            adopt(onTracers(new ArrayList<>(held.keySet()), root, pid -> stopSeized(pid, held.get(pid), root, true)));
            log("froze the tree of %d through freezer cgroup %s (%d tasks)", root, cgroup, frozen.size());
        } catch (SyscallException | CryoException | RuntimeException e) {
            if (!thawed && (!seized.isEmpty() || !cgroup.wasFrozen())) {
                cgroup.thawQuietly(); // interrupted threads stop only once thawed: then they can be let go
                for (Map.Entry<Integer, List<Integer>> s : seized.entrySet()) {
                    Outcome o = onTracers(List.of(s.getKey()), root, pid -> stopSeized(pid, s.getValue(), root,
                            false)).get(s.getKey());
                    if (o.tids() != null) {
                        frozen.put(s.getKey(), o.tids());
                    }
                }
            }
            throw e;
        }
    }

    /**
     * Seizes and interrupts every thread of a task held by the frozen cgroup, without waiting: it stops once
     * thawed. The outcome lists what was seized, with the error that stopped it, if any.
     */
    private Outcome seizeFrozen(int pid, List<Integer> tids, int root) {
        List<Integer> seized = new ArrayList<>();
        for (int tid : tids) {
            try {
                Ptrace.seize(tid, options);
            } catch (SyscallException e) {
                if (e.errno() == 3 && tid != pid) {
                    continue; // exiting, not frozen: gone by now
                }
                if (e.errno() == 3 && pid != root && seized.isEmpty()) {
                    return new Outcome(List.of(), null); // it left the tree
                }
                return new Outcome(seized, new SyscallException("process " + pid + " of the tree of " + root
                        + (tid == pid ? "" : ", its thread " + tid) + ": ptrace(SEIZE)", e.errno()));
            }
            seized.add(tid);
            try {
                Ptrace.interrupt(tid);
            } catch (SyscallException e) {
                return new Outcome(seized, new SyscallException("process " + pid + " of the tree of " + root
                        + ", thread " + tid + ": ptrace(INTERRUPT)", e.errno()));
            }
            if (pid == Integer.getInteger("cryo.fault.cgroup-seize", 0)) { // for tests: a task half seized
                return new Outcome(seized, new SyscallException("process " + pid + " of the tree of " + root
                        + ": fault injected while seizing it in the frozen cgroup", 5));
            }
        }
        return new Outcome(seized, null);
    }

    /**
     * Waits, on the task's tracer, for the interrupt stop of each seized thread of a thawed task. With
     * {@code complete}, the task's threads are then listed again (any not seized is frozen as a freeze by ptrace
     * does), and the outcome holds them all, the leader first; otherwise it holds the stopped ones, to be let go.
     */
    private Outcome stopSeized(int pid, List<Integer> seized, int root, boolean complete) {
        List<Integer> held = new ArrayList<>();
        List<Integer> unstopped = new ArrayList<>(); // seized, never stopped: left to the tracer thread's end
        SyscallException failed = null;
        for (int tid : seized) {
            try {
                if (Freezer.awaitStop(tid, bound)) {
                    held.add(tid);
                }
            } catch (SyscallException e) {
                failed = failed == null ? e : failed;
                if (e instanceof StuckThread) {
                    Tracer.leaveStuck(tid); // waited for long enough
                } else {
                    unstopped.add(tid);
                }
            }
        }
        held.sort((a, b) -> a == pid ? -1 : b == pid ? 1 : 0); // the leader first
        if (!complete) {
            Freezer.release(List.of(), unstopped);
            return new Outcome(held, null);
        }
        if (failed != null || !held.contains(pid)) {
            Freezer.release(held, unstopped);
            if (failed == null && pid != root) {
                return new Outcome(null, null); // killed meanwhile: it left the tree
            }
            return new Outcome(null, failed == null ? new SyscallException("process " + pid + " of the tree of "
                    + root + ": exited while being frozen", 3) : named(failed, pid, root));
        }
        try {
            return new Outcome(Freezer.freezeAll(pid, options, threadsOf(proc, pid), held, bound), null);
        } catch (SyscallException e) {
            return new Outcome(null, named(e, pid, root));
        }
    }

    /** {@code e} as a failure of process {@code pid} of the tree; a thread that did not stop stays one. */
    private static SyscallException named(SyscallException e, int pid, int root) {
        if (e instanceof StuckThread stuck) {
            return pid == root ? stuck : stuck.in("process " + pid + " of the tree of " + root);
        }
        return new SyscallException("process " + pid + " of the tree of " + root + ": " + e.getMessage(), e.errno());
    }

    /** The live tasks of the tree under {@code root} with their threads, parents before children. */
    private Map<Integer, List<Integer>> tree(int root) throws SyscallException {
        Map<Integer, List<Integer>> tree = new LinkedHashMap<>();
        List<Integer> level = List.of(root);
        while (!level.isEmpty()) {
            List<Integer> next = new ArrayList<>();
            for (int pid : level) {
                if (tree.containsKey(pid) || zombie(pid, pid == root)) {
                    continue;
                }
                try {
                    tree.put(pid, proc.tasks(pid));
                    next.addAll(children.of(pid));
                } catch (IOException e) {
                    if (pid == root) {
                        throw new SyscallException("process " + pid, 3);
                    }
                    tree.remove(pid); // gone meanwhile
                }
            }
            level = next;
        }
        return tree;
    }

    /** The task's state letter, '?' when it is gone. */
    private char state(int pid) {
        try {
            return proc.stat(pid).state();
        } catch (IOException e) {
            return '?';
        }
    }

    /**
     * The frozen cgroup must hold exactly the tree: a task of it outside the tree would stay frozen by nobody's
     * dump, and a task of the tree outside it would run on while the rest is frozen.
     */
    private void requireSameTasks(Map<Integer, List<Integer>> tree, int root) throws CryoException {
        java.util.Set<Integer> inCgroup;
        try {
            inCgroup = cgroup.tids();
        } catch (IOException | RuntimeException e) {
            throw new CryoException("cannot dump pid " + root + ": cannot list the tasks of freezer cgroup " + cgroup
                    + ": " + e.getMessage());
        }
        java.util.Set<Integer> inTree = new HashSet<>();
        tree.forEach((pid, tids) -> {
            inTree.add(pid);
            inTree.addAll(tids);
        });
        for (Map.Entry<Integer, List<Integer>> t : tree.entrySet()) {
            for (int tid : t.getValue()) {
                if (!inCgroup.contains(tid) && live(tid)) {
                    throw new CryoException("cannot dump pid " + root + ": " + (t.getKey() == root ? "it" : "process "
                            + t.getKey() + " of its tree") + (tid == t.getKey() ? "" : " (its thread " + tid + ")")
                            + " is not in freezer cgroup " + cgroup + " (it is in " + cgroup.placeOf(tid) + "), so "
                            + "the cgroup cannot freeze it: move it into the cgroup, or dump without --freeze-cgroup");
                }
            }
        }
        for (int tid : inCgroup) {
            if (!inTree.contains(tid) && live(tid)) {
                throw new CryoException("cannot dump pid " + root + ": freezer cgroup " + cgroup + " holds "
                        + describe(tid) + ", which is not in the tree of pid " + root + ": dump the tree that holds "
                        + "every task of the cgroup (its topmost process), or move that task out of the cgroup");
            }
        }
    }

    /** True unless the task is gone or a zombie (a dead task leaves its cgroup's lists). */
    private boolean live(int tid) {
        char st = state(tid);
        return st != '?' && st != 'Z' && st != 'X';
    }

    /** "pid N (comm)" or "thread T of pid N (comm)". */
    private String describe(int tid) {
        int tgid = tid;
        try {
            String t = proc.status(tid).get("Tgid");
            tgid = t == null ? tid : Integer.parseInt(t.trim());
        } catch (IOException | RuntimeException e) {
            // named by the tid alone
        }
        String comm;
        try {
            comm = proc.comm(tgid);
        } catch (IOException e) {
            comm = "gone by now";
        }
        return (tgid == tid ? "" : "thread " + tid + " of ") + "pid " + tgid + " (" + comm + ")";
    }

    /**
     * Thaws the cgroup if the seizing of its tasks takes longer than the dump's bound: a seize that waits on a
     * frozen task (one stopped since the tree was read) then ends, and the freeze goes on as a freeze by ptrace.
     */
    private static final class Watchdog implements AutoCloseable {
        private final java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);

        Watchdog(FreezerCgroup cgroup) {
            Thread t = new Thread(() -> {
                try {
                    if (!done.await(cgroup.bound().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        cgroup.thawLate();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "cryo-freezer-watchdog");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() {
            done.countDown();
        }
    }

    /** Freezes every thread of one task, on the thread that is to be its tracer. */
    private Outcome freezeOne(int pid, int root) {
        try {
            return new Outcome(Freezer.freezeAll(pid, options, threadsOf(proc, pid), bound), null);
        } catch (SyscallException e) {
            if (e.errno() == 3 && pid != root) {
                return new Outcome(null, null); // exited (and was reaped) before it could be frozen: it left the tree
            }
            return new Outcome(null, named(e, pid, root));
        }
    }

    /** The threads of {@code pid} as /proc lists them, with the count that tells a listing that missed one. */
    static Freezer.ThreadList threadsOf(ProcFs proc, int pid) {
        return new Freezer.ThreadList() {
            @Override
            public List<Integer> tids() throws IOException {
                return proc.tasks(pid);
            }

            @Override
            public int count() throws IOException {
                return proc.stat(pid).numThreads();
            }
        };
    }

    private boolean zombie(int pid, boolean root) throws SyscallException {
        try {
            TaskStat st = proc.stat(pid);
            return st.state() == 'Z' || st.state() == 'X';
        } catch (NoSuchFileException e) {
            if (root) {
                throw new SyscallException("process " + pid, 3);
            }
            return true; // gone: nothing to freeze
        } catch (IOException e) {
            throw new SyscallException("reading /proc/" + pid + "/stat (" + e.getMessage() + ")", 3);
        }
    }

    /** The threads of {@code pid} were let go by its own dump: {@link #release} leaves them alone. */
    public void released(int pid) {
        frozen.remove(pid);
    }

    /** Lets every frozen thread go as it was (detach: the kernel restarts interrupted syscalls itself). */
    public void release() {
        if (cgroup != null) {
            cgroup.refreeze(); // frozen before the dump: frozen again while its tasks are held, so they stay so
        }
        List<Integer> pids = new ArrayList<>(frozen.keySet());
        for (int i = pids.size() - 1; i >= 0; i--) {
            List<Integer> tids = frozen.get(pids.get(i));
            Tracer t = tracers.apply(pids.get(i));
            try {
                if (t == null) {
                    Freezer.release(tids, List.of());
                } else {
                    t.call(() -> {
                        Freezer.release(tids, List.of());
                        return null;
                    });
                }
            } catch (dev.cryo.engine.CryoException | RuntimeException ignored) {
                // its tracer is gone, and with it the attachment
            }
        }
        frozen.clear();
    }
}
