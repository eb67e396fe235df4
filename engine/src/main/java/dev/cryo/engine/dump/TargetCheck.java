package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.resource.FdDumpContext;
import dev.cryo.engine.resource.FdKind;
import dev.cryo.engine.resource.FdKinds;
import dev.cryo.engine.sys.DirectFiles;

import java.io.IOException;
import java.util.List;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.engine.tree.TreeTask;

/**
 * Everything that makes a process tree impossible to dump, found from /proc before any task is touched.
 * Each refusal names the pid, the resource and why (or the option that would allow it).
 */
final class TargetCheck {
    private TargetCheck() {
    }

    /**
     * Checks the tree under {@code pid} (the process and all its descendants), task by task, before any is touched;
     * returns the tree as read.
     */
    static List<TreeTask> requireDumpable(int pid, ProcFs proc, FdDumpContext fdCtx) throws CryoException {
        if (pid <= 0) {
            throw new CryoException("cannot dump pid " + pid + ": not a valid pid");
        }
        if (pid == ProcessHandle.current().pid()) {
            throw new CryoException("cannot dump pid " + pid + ": it is Cryo itself");
        }
        TaskStat stat;
        try {
            stat = proc.stat(pid);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": no such process");
        }
        if (stat.kernelThread()) {
            throw new CryoException("cannot dump pid " + pid + ": it is the kernel thread " + stat.comm()
                    + ", which has no user space to checkpoint");
        }
        if (stat.state() == 'Z' || stat.state() == 'X') {
            int threads = liveThreads(proc, pid);
            if (threads > 0) {
                // the leader thread ended (pthread_exit in main) and the process runs on in its other threads
                throw new CryoException("cannot dump pid " + pid + ": its main thread has exited while " + threads
                        + " other thread(s) run on, which Cryo cannot dump yet (a process whose leader thread is "
                        + "gone)");
            }
            throw new CryoException("cannot dump pid " + pid + ": it is a zombie (exited, not yet reaped)");
        }
        if (pid == 1) {
            throw new CryoException("cannot dump pid 1: it is the init of this pid namespace");
        }
        int tgid = threadGroup(proc, pid);
        if (tgid != pid) {
            // /proc/TID reads like a process: dumped as one, its images were no process's, and the kill that ended
            // the dump took the whole process, then waited for a thread group of the wrong leader
            throw new CryoException("cannot dump pid " + pid + ": it is a thread of process " + tgid + ", not a "
                    + "process; dump -t " + tgid + " dumps that process with all its threads");
        }
        List<TreeTask> tree = afterVforks(proc, pid, ProcessTree.read(proc, pid)); // memory checked there
        long self = ProcessHandle.current().pid();
        if (tree.stream().anyMatch(t -> t.pid() == self)) {
            throw new CryoException("cannot dump pid " + pid + ": Cryo itself (pid " + self + ") is in its tree, a "
                    + "descendant of it, and a process cannot checkpoint itself; run cryo from outside the tree "
                    + "(another shell or terminal)");
        }
        fdCtx.tasks().set(tree.stream().map(TreeTask::pid).toList());
        for (TreeTask t : tree) {
            if (t.state() != TaskState.DEAD) {
                requireTaskDumpable(t.pid(), pid, proc, fdCtx.forTask(t.pid()));
            }
        }
        requireNothingSharedBetweenProcesses(tree, false);
        return tree;
    }

    private static void requireTaskDumpable(int pid, int root, ProcFs proc, FdDumpContext fdCtx) throws CryoException {
        String who = pid == root ? "pid " + pid : "pid " + pid + " (in the tree of " + root + ")";
        TaskStatus status;
        try {
            status = proc.status(pid);
        } catch (IOException e) {
            if (pid == root) {
                throw new CryoException("cannot dump pid " + pid + ": no such process");
            }
            return; // exited meanwhile: it left the tree
        }
        try {
            Tracers.requireUntraced(proc, pid, pid);
            requireCryosNamespaces(pid, root);
        } catch (CryoException e) {
            if (pid != root && gone(proc, pid)) {
                return; // exited since the tree was listed (a shell loop's `sleep`): the freeze sees it gone
            }
            throw e;
        }
        try {
            requireSeccompDumpable(who, pid, status, proc);
            for (FdInfo fd : proc.fds(pid)) {
                try {
                    FdKind kind = FdKinds.of(fd).orElseThrow(() -> new CryoException("cannot dump pid " + pid
                            + ": fd " + fd.fd() + " is " + FdKinds.describe(fd)));
                    kind.check(fdCtx, fd);
                    fdCtx.passedCheck(fd);
                } catch (CryoException e) {
                    if (e.getCause() instanceof IOException || changedSinceListed(proc, pid, fd)) {
                        // closed, or closed and opened again, while the task ran on (a read of /proc failing is
                        // how that shows): the frozen dump checks what is there then
                        continue;
                    }
                    throw e;
                }
            }
            dev.cryo.engine.resource.DeletedFiles.checkMappings(pid, proc, fdCtx.options().files(), fdCtx.deleted());
        } catch (java.nio.file.NoSuchFileException e) {
            if (pid == root) {
                throw new CryoException("cannot dump pid " + pid + ": no such process");
            }
        } catch (IOException e) {
            if (pid != root && gone(proc, pid)) {
                return;
            }
            throw new CryoException("cannot dump " + who + ": cannot read /proc/" + pid + ": " + e.getMessage());
        } catch (CryoException e) {
            if (pid != root && gone(proc, pid)) {
                return; // its fds vanished while they were checked: it exited, and the freeze sees it gone
            }
            throw e;
        }
    }

    /** How many threads of {@code pid} other than its leader have not exited. */
    private static int liveThreads(ProcFs proc, int pid) {
        int live = 0;
        try {
            for (int tid : proc.tasks(pid)) {
                if (tid != pid && "ZX".indexOf(proc.stat(tid).state()) < 0) { // /proc/TID reads as the thread
                    live++;
                }
            }
        } catch (IOException | RuntimeException e) {
            // reaped meanwhile: a zombie's message
        }
        return live;
    }

    /** The process {@code tid} is a thread of (its own pid for a process), from /proc/TID/status. */
    private static int threadGroup(ProcFs proc, int tid) throws CryoException {
        try {
            String tgid = proc.status(tid).get("Tgid");
            return tgid.isEmpty() ? tid : Integer.parseInt(tgid);
        } catch (IOException | NumberFormatException e) {
            return tid; // gone meanwhile: the tree's listing says so
        }
    }

    /** Whether fd {@code fd.fd()} of {@code pid} is gone, or names another file, since {@code fd} was read. */
    private static boolean changedSinceListed(ProcFs proc, int pid, FdInfo fd) {
        try {
            return !proc.link(pid, "fd/" + fd.fd()).equals(fd.target());
        } catch (IOException e) {
            return true;
        }
    }

    /**
     * Whether {@code pid} has exited (a zombie, or reaped) since the tree was listed, or is exiting: its namespaces
     * already let go (their /proc links read ENOENT) while /proc still shows it running, a moment before it is a zombie.
     */
    private static boolean gone(ProcFs proc, int pid) {
        try {
            char state = proc.stat(pid).state();
            if (state == 'Z' || state == 'X') {
                return true;
            }
        } catch (IOException e) {
            return true;
        }
        try {
            DirectFiles.readLink("/proc/" + pid + "/ns/mnt");
            return false;
        } catch (java.nio.file.NoSuchFileException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static final int KCMP_VM = 1, KCMP_FILES = 2, KCMP_FS = 3, KCMP_SIGHAND = 4;
    /** How long a listing waits for a vfork child to exec or exit ({@link #afterVforks}). */
    static final long VFORK_WAIT_NS = 2_000_000_000L;

    /**
     * {@code tree}, or the tree read again once no two of its processes share their memory: a vfork child (dash's
     * commands, posix_spawn, Python's subprocess, Java's ProcessBuilder) shares its parent's from the vfork until it
     * execs or exits, microseconds to a few milliseconds. A tree listed in that window waits it out, for at most
     * {@link #VFORK_WAIT_NS}, rather than being refused for a state that is gone a moment later; a child that shares
     * its parent's memory longer is refused here, by {@link #requireNothingSharedBetweenProcesses}.
     */
    static List<TreeTask> afterVforks(ProcFs proc, int root, List<TreeTask> tree) throws CryoException {
        long deadline = System.nanoTime() + VFORK_WAIT_NS;
        long pauseUs = 100;
        while (tree.size() > 1
                && sharingPair(tree.stream().filter(t -> t.state() != TaskState.DEAD).toList(), KCMP_VM) != null) {
            if (System.nanoTime() >= deadline) {
                requireNothingSharedBetweenProcesses(tree, true); // names the pair, or what else they share first
                return tree; // the pair was gone by then: the freeze checks memory again
            }
            java.util.concurrent.locks.LockSupport.parkNanos(pauseUs * 1000);
            pauseUs = Math.min(pauseUs * 2, 20_000);
            tree = ProcessTree.read(proc, root);
        }
        return tree;
    }

    /**
     * Two processes (not threads) of the tree that share their fd table (CLONE_FILES), fs info (CLONE_FS), signal
     * handlers (CLONE_SIGHAND) or memory (CLONE_VM, a vfork child) are refused: the images give each task its own,
     * and a restore would split what the program relies on being one. Memory only when {@code memory}: the callers
     * that just checked it ({@link #afterVforks}, the freeze) do not ask for it again.
     */
    static void requireNothingSharedBetweenProcesses(List<TreeTask> tree, boolean memory) throws CryoException {
        int[][] kinds = {{KCMP_FILES, 0}, {KCMP_FS, 0}, {KCMP_SIGHAND, 0}, {KCMP_VM, 0}};
        String[] names = {"fd table (CLONE_FILES)", "filesystem info, cwd and umask (CLONE_FS)",
                "signal handlers (CLONE_SIGHAND)", "memory (CLONE_VM, as a vfork child does until it execs, and this "
                + "one did not within 2 s)"};
        List<TreeTask> live = tree.stream().filter(t -> t.state() != TaskState.DEAD).toList();
        for (int k = 0; k < (memory ? kinds.length : kinds.length - 1); k++) {
            int[] pair = sharingPair(live, kinds[k][0]);
            if (pair != null) {
                throw new CryoException("cannot dump pid " + tree.get(0).pid() + ": processes " + pair[0] + " and "
                        + pair[1] + " of its tree share their " + names[k] + ", which Cryo cannot dump: each task "
                        + "would come back with its own");
            }
        }
    }

    /**
     * Two tasks of {@code live} whose kernel object of kcmp {@code type} is the same one, in tree order, or null.
     * kcmp orders the objects, so the tasks are sorted by theirs and only neighbours compared: a 100-task tree's
     * check is about 700 kcmp calls a kind instead of 4950 (it runs twice, once while the tree is frozen). A task
     * kcmp cannot compare (it exited meanwhile) has no order: then every pair is compared, as it always was.
     */
    static int[] sharingPair(List<TreeTask> live, int type) {
        Integer[] order = new Integer[live.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        try {
            java.util.Arrays.sort(order, (x, y) -> {
                if (x.equals(y)) {
                    return 0;
                }
                long r = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KCMP, live.get(x).pid(),
                        live.get(y).pid(), type, 0, 0);
                if (r < 0 || r > 2) {
                    throw new Unordered();
                }
                return r == 0 ? 0 : r == 1 ? -1 : 1;
            });
        } catch (Unordered | IllegalArgumentException e) {
            for (int i = 0; i < live.size(); i++) {
                for (int j = i + 1; j < live.size(); j++) {
                    if (sameObject(live.get(i).pid(), live.get(j).pid(), type)) {
                        return new int[]{live.get(i).pid(), live.get(j).pid()};
                    }
                }
            }
            return null;
        }
        for (int i = 1; i < order.length; i++) {
            int x = Math.min(order[i - 1], order[i]), y = Math.max(order[i - 1], order[i]);
            if (sameObject(live.get(x).pid(), live.get(y).pid(), type)) {
                return new int[]{live.get(x).pid(), live.get(y).pid()};
            }
        }
        return null;
    }

    private static boolean sameObject(int a, int b, int type) {
        return dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KCMP, a, b, type, 0, 0) == 0;
    }

    /** kcmp gave no order for two tasks (one exited, or may not be compared). */
    private static final class Unordered extends RuntimeException {
        Unordered() {
            super(null, null, false, false);
        }
    }

    /**
     * A thread under seccomp is dumped (its filters read, its seccomp suspended for Cryo's syscalls in it) only by a
     * Cryo that may do both: with CAP_SYS_ADMIN, and not confined itself. Refused before the freeze, naming the
     * thread; the filters themselves are read frozen (a user-notification one is refused then).
     */
    private static void requireSeccompDumpable(String who, int pid, TaskStatus status, ProcFs proc)
            throws CryoException, IOException {
        int tid = pid, mode = status.seccompMode();
        if (mode == 0) {
            for (int t : proc.tasks(pid)) {
                if (t != pid && (mode = seccompOf(proc, t)) != 0) {
                    tid = t;
                    break;
                }
            }
        }
        if (mode == 0) {
            return;
        }
        var why = dev.cryo.engine.resource.Seccomp.cryoCannotSuspend();
        if (why.isPresent()) {
            throw new CryoException("cannot dump " + who + ": " + (tid == pid ? "it runs" : "its thread " + tid + " runs")
                    + " under seccomp (mode " + mode + "), whose filters Cryo cannot read nor suspend: " + why.get());
        }
    }

    /** A thread's seccomp mode; 0 when it ended meanwhile (the freeze finds the threads again). */
    private static int seccompOf(ProcFs proc, int tid) {
        try {
            return proc.status(tid).seccompMode();
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * A process in a pid or mount namespace of its own (a container's) would be dumped with the pids and paths
     * Cryo sees, and come back as something else: refused, until those namespaces are dumped, rather than killed
     * for images that cannot give it back. The same for a user namespace of its own, which no restore of Cryo's
     * makes. A time namespace of the tree's own is dumped ({@link dev.cryo.engine.resource.TimeNamespace}), one
     * per tree: a task in another one than its root's is refused.
     */
    static void requireCryosNamespaces(int pid, int root) throws CryoException {
        java.nio.file.Path proc = java.nio.file.Path.of("/proc", Integer.toString(pid));
        try {
            requireRootsNamespaces(pid, root);
            String mine = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/pid")).toString();
            if (!java.nio.file.Files.readSymbolicLink(proc.resolve("ns/pid")).toString().equals(mine)) {
                String nspid = java.nio.file.Files.readAllLines(proc.resolve("status")).stream()
                        .filter(l -> l.startsWith("NSpid:")).findFirst().orElse("NSpid: ?").substring(6).strip();
                if (nspid.split("\\s+").length == 2) {
                    return; // one level below Cryo's: a container's, which ContainerDump checks and dumps as a whole
                }
                throw new CryoException("cannot dump pid " + pid + ": it lives in a pid namespace of its own (NSpid "
                        + nspid.replaceAll("\\s+", " ") + "), which Cryo cannot dump yet: a restore would not give "
                        + "it the same pids");
            }
            String time = dev.cryo.engine.resource.TimeNamespace.of(pid);
            String forChildren = dev.cryo.engine.resource.TimeNamespace.forChildren(pid);
            if (time != null && forChildren != null && !forChildren.equals(time)) {
                throw new CryoException("cannot dump pid " + pid + ": it unshared a time namespace (" + forChildren
                        + ") that its children would enter, and lives in " + time + "; Cryo restores a tree in one");
            }
            if (pid != root && time != null && !time.equals(dev.cryo.engine.resource.TimeNamespace.of(root))) {
                throw new CryoException("cannot dump pid " + pid + " (in the tree of " + root + "): it lives in another "
                        + "time namespace (" + time + ") than its root (" + dev.cryo.engine.resource.TimeNamespace.of(root)
                        + "); Cryo restores a tree in one");
            }
            java.nio.file.Path ourUser = java.nio.file.Path.of("/proc/self/ns/user");
            if (java.nio.file.Files.exists(ourUser, java.nio.file.LinkOption.NOFOLLOW_LINKS)) { // else no user namespaces
                String link = java.nio.file.Files.readSymbolicLink(proc.resolve("ns/user")).toString();
                if (!link.equals(java.nio.file.Files.readSymbolicLink(ourUser).toString())) {
                    throw new CryoException("cannot dump pid " + pid + ": it lives in a user namespace of its own ("
                            + link + "), which Cryo cannot dump yet: restored in Cryo's, its uids and capabilities "
                            + "would be those of Cryo's namespace (the host's root for its root)");
                }
            }
            boolean ownMounts = !java.nio.file.Files.readSymbolicLink(proc.resolve("ns/mnt")).equals(
                    java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/mnt")));
            if (ownMounts && !java.nio.file.Files.isSameFile(proc.resolve("root"), java.nio.file.Path.of("/"))) {
                throw new CryoException("cannot dump pid " + pid + ": it lives in a mount namespace of its own with "
                        + "another root (a container's), which Cryo cannot dump yet: its paths would not be found again");
            }
        } catch (java.io.IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its namespaces in /proc/" + pid + ": "
                    + e.getMessage());
        }
    }

    /**
     * Namespaces a tree's tasks share with their root, by kind and name: a task restored in another would silently get
     * the root's network, SysV objects, host name or cgroup paths instead of its own. The root's own network, ipc and
     * uts namespaces are dumped with the tree ({@link ContainerDump}); a cgroup namespace only with a container's.
     */
    private static final String[][] CONTAINER_ONLY = {{"net", "a network"}, {"ipc", "an ipc"}, {"uts", "a uts"},
            {"cgroup", "a cgroup"}};

    /**
     * Every thread of {@code pid} lives in the root's namespaces of {@link #CONTAINER_ONLY}: the root's own threads in
     * its leader's, and in Cryo's cgroup namespace for a root that is no container's init (it shares Cryo's pid
     * namespace: {@link ContainerDump#of} refused every other shape). Threads are read one by one: {@code unshare} and
     * {@code setns} of those kinds change the calling thread's alone.
     */
    static void requireRootsNamespaces(int pid, int root) throws CryoException, java.io.IOException {
        boolean containerRoot = !DirectFiles.readLink("/proc/" + root + "/ns/pid").equals(
                DirectFiles.readLink("/proc/self/ns/pid"));
        if (pid == root && containerRoot) {
            return; // ContainerDump dumps the container's own
        }
        int[] tids;
        try {
            tids = DirectFiles.numericNames("/proc/" + pid + "/task");
        } catch (java.nio.file.NoSuchFileException e) {
            return; // gone: the caller tells an exit from a refusal
        }
        for (String[] kind : CONTAINER_ONLY) {
            // the dumping thread's own cgroup namespace (one that entered the target's dumps and restores there)
            boolean cryos = pid == root && kind[0].equals("cgroup");
            String want;
            try {
                want = DirectFiles.readLink((cryos ? "/proc/thread-self" : "/proc/" + root) + "/ns/" + kind[0]);
            } catch (java.nio.file.NoSuchFileException e) {
                return; // the root is gone: the freeze says so
            }
            for (int tid : tids) {
                String has;
                try {
                    has = DirectFiles.readLink("/proc/" + pid + "/task/" + tid + "/ns/" + kind[0]);
                } catch (java.nio.file.NoSuchFileException e) {
                    continue; // the thread exited meanwhile
                }
                if (has.equals(want)) {
                    continue;
                }
                String task = tid == pid ? "pid " + pid : "thread " + tid + " of pid " + pid;
                if (cryos) {
                    throw new CryoException("cannot dump pid " + root + ": " + task + " lives in " + kind[1]
                            + " namespace of its own (" + has + "), not Cryo's (" + want + "); Cryo dumps that "
                            + "namespace only with a container's pid namespace, and would restore the process in "
                            + "its own. Run Cryo inside it (nsenter --" + kind[0] + " --target " + pid
                            + " cryo dump ...), and restore there too");
                }
                if (pid == root) {
                    throw new CryoException("cannot dump pid " + root + ": its " + task + " lives in another "
                            + kind[1].substring(kind[1].indexOf(' ') + 1) + " namespace (" + has + ") than its main "
                            + "thread (" + want + "), which Cryo cannot dump yet: it restores a process in one");
                }
                throw new CryoException("cannot dump pid " + root + ": " + task + " of its tree lives in another "
                        + kind[1].substring(kind[1].indexOf(' ') + 1) + " namespace (" + has + ") than its root ("
                        + want + "), which Cryo cannot dump yet: it restores a tree in its root's namespaces");
            }
        }
    }
}
