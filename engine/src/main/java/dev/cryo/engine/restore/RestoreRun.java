package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.HelperProcess;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.resource.DeletedFiles;
import dev.cryo.engine.resource.SharedFiles;
import dev.cryo.engine.resource.SharedMemory;
import dev.cryo.engine.resource.SocketRestore;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.tree.PlanStep;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.engine.tree.TreePlan;
import dev.cryo.engine.tree.TreeTask;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One restore of a tree: every image read and checked and every pid checked free before anything is made; then
 * the {@link TreePlan}'s steps in order (forks by remote clone3 with set_tid, sessions, groups, subreapers,
 * helpers that exit, one {@link TaskBuilder} per task, zombies), every task made ready, and only then all run.
 * A single process is the one-task tree. Runs on the tracer thread. On failure every task, thread and helper
 * made so far is killed and reaped.
 */
final class RestoreRun {
    static final long CLONE_PARENT = 0x00008000L;
    static final int SIGCHLD = 17, EXIT_GROUP = 231, PR_SET_CHILD_SUBREAPER = 36, WALL = 0x40000000;
    /** Each task's restore steps, named for the log and for fault injection ({@code -Dcryo.fault.step=NAME}). */
    static final List<String> STEPS = List.of("check pids", "fork", "setsid", "setpgid", "subreaper", "exit helper",
            "build", "zombie", "ready", "resume");

    private final RestoreOptions options;
    private final Log log;
    private final ProcFs proc = new ProcFs();
    private ImageDir dir;
    private TreePlan plan;
    private int pid; // the root's
    /** One builder per live or stopped task, in the plan's order. */
    private final Map<Integer, TaskBuilder> builders = new LinkedHashMap<>();
    /** Tasks and helpers made so far, before they are built: pid to remote syscalls in them. */
    private final Map<Integer, NewTask> made = new LinkedHashMap<>();
    /** Every pid made so far (tasks, helpers, zombies), in creation order: what a failure kills. */
    private final List<Integer> everMade = new ArrayList<>();
    private final List<Integer> running = new ArrayList<>();
    /** A zombie's core (task_core_entry): its name, status, and whatever signal state the dump kept. */
    private final Map<Integer, task_core_entry> zombieCores = new HashMap<>();

    /** A container's images: its namespaces are made with the root; null for a plain tree. */
    private ContainerRestore container;
    /** Pids as Cryo sees them, by the images' pid, where they differ (a container's tasks). */
    private final Map<Integer, Integer> hostPids = new HashMap<>();
    /** The holders of groups whose leaders leave them ({@link PlanStep.HoldGroup}), by group: as Cryo sees them. */
    private final Map<Integer, NewTask> holders = new HashMap<>();
    /** Their pids in their parents' pid namespace, by group: what the parent's wait4 names. */
    private final Map<Integer, Integer> holderPids = new HashMap<>();
    /** The group the root was forked in: the restorer's, where the root's group was outside the tree. */
    private int rootForkGroup;

    private int helper = -1;
    private SharedMemory.Restore shmem;
    /** Puts each task into its cgroups as it is made (cgroup.img, --manage-cgroups). */
    private dev.cryo.engine.resource.Cgroups.Restore cgroups;
    /** inventory.img's root_cg_set: the dumper's own cgroups, where a task that shared them is not moved from */
    private int rootCgSet;
    private SharedFiles sharedFiles;
    private final Map<Object, Object> fdState = new HashMap<>();

    RestoreRun(RestoreOptions options, Log log) {
        this.options = options;
        this.log = log;
    }

    /** The caller's stops (CRIU's action scripts, RPC notifications); none from the command line. */
    private dev.cryo.engine.ActionScripts scripts = dev.cryo.engine.ActionScripts.NONE;

    RestoreRun withScripts(dev.cryo.engine.ActionScripts scripts) {
        this.scripts = scripts;
        return this;
    }

    /** The images, opened by the caller (null: opened here). */
    private ImageDir images;

    RestoreRun withImages(ImageDir images) {
        this.images = images;
        return this;
    }

    /** The pages images' check, under way while the tree is built; none by default. */
    private ImageIntegrity.Pages pagesCheck = ImageIntegrity.Pages.NONE;

    RestoreRun withPagesCheck(ImageIntegrity.Pages check) {
        this.pagesCheck = check;
        return this;
    }

    private DeletedFiles.Restore remaps;

    /** What the pages images' check found wrong, which explains failure {@code e} better than its symptom; or null. */
    private CryoException damagedPages(Exception e) {
        CryoException damaged = pagesCheck.failure();
        if (damaged != null && damaged != e) {
            log.error("%s", damaged.getMessage());
            return damaged;
        }
        return null;
    }

    /** This thread and the tasks it builds on one CPU (see {@link dev.cryo.engine.sys.CpuPin}); none until the forks. */
    private dev.cryo.engine.sys.CpuPin pin = dev.cryo.engine.sys.CpuPin.none();

    /** The caller's stops run with this thread's own mask: a program they start must not inherit the pin. */
    private dev.cryo.engine.ActionScripts unpinned(dev.cryo.engine.ActionScripts s) {
        return (action, p) -> {
            dev.cryo.engine.sys.CpuPin.unpinInherited();
            try {
                s.run(action, p);
            } finally {
                dev.cryo.engine.sys.CpuPin.repin();
            }
        };
    }

    int run() throws CryoException {
        long t0 = System.nanoTime();
        dev.cryo.engine.dump.Warmup.bindSpawnInBackground(); // overlaps the image reading below
        try {
            try {
                load();
            } catch (CryoException | RuntimeException e) {
                CryoException damaged = damagedPages(e); // a pages image cut short fails the load: its check names it
                if (damaged != null) {
                    throw damaged;
                }
                throw e;
            }
            log.info("Restoring pid %d (%d tasks, %d helpers) from %s", pid, plan.tasks().size(),
                    plan.helpers().size(), options.imagesDir());
            scripts.run("pre-restore");
            step("check pids", pid);
            if (container == null || !container.newPid()) {
                checkPidsFree(); // a container's pids are in its new pid namespace: all free there
            }
            pin = dev.cryo.engine.sys.CpuPin.here(); // the tasks are made from a helper pinned with this thread
            if (pin.active()) {
                log.debug("restoring on CPU %d: the tasks are pinned there until they run", pin.cpu());
                scripts = unpinned(scripts);
            }
            long tf0 = System.nanoTime();
            long forkUs = 0;
            try {
                boolean ready = false;
                for (PlanStep s : plan.steps()) {
                    if (s instanceof PlanStep.Build && forkUs == 0) {
                        forkUs = (System.nanoTime() - tf0) / 1000;
                    }
                    if (!(s instanceof PlanStep.Build)) {
                        finishPendingBuild(); // whatever the plan does next finds every task built so far whole
                    }
                    if (s instanceof PlanStep.Resume && !ready) {
                        readyAll();
                        ready = true;
                    }
                    execute(s);
                }
                dev.cryo.engine.net.NetworkLock.closeOpened(host(pid), log); // the opened lock's table goes now
                scripts.runQuietly("post-resume"); // the tree runs already: CRIU only logs a failure here
                long restoreUs = (System.nanoTime() - t0) / 1000;
                log.info("Restored pid %d (%d tasks) in %d us (fork %d us)", host(pid), builders.size(), restoreUs,
                        forkUs);
                writeStats(forkUs, restoreUs);
                writePidfile();
                log.info("Restore finished successfully. Tasks resumed.");
                return host(pid);
            } catch (CryoException | RuntimeException e) {
                log.error("%s", e.getMessage());
                cleanUp();
                shmem.abort();
                if (cgroups != null) {
                    cgroups.abort(); // after the tasks are gone: an empty cgroup can be removed
                }
                CryoException damaged = damagedPages(e);
                if (damaged != null) {
                    throw damaged;
                }
                throw e;
            }
        } finally {
            stopPageWriter(); // before the pages' sources close
            pin.close();
            builders.values().forEach(TaskBuilder::release);
            if (shmem != null) {
                shmem.close();
            }
            if (sharedFiles != null) {
                sharedFiles.close();
            }
            if (remaps != null) {
                remaps.close(); // a failed restore's ghosts go; after a good one, nothing is left to remove
            }
            dev.cryo.engine.resource.Tty.close(fdState); // Cryo's ends of the ptys it made

        }
    }

    /**
     * pstree.img, then per task its core (state), and for each task that is not a zombie what its builder reads
     * ({@link TaskBuilder#load}); files.img and pipes-data.img once for the tree.
     */
    private void load() throws CryoException {
        Path d = options.imagesDir();
        String where = "cannot restore from " + d + ": ";
        try {
            dir = images != null ? images : ImageDir.open(d);
        } catch (IOException e) {
            throw new CryoException(where + "no such images directory");
        }
        String current = "inventory.img";
        List<pstree_entry> tree;
        Map<Integer, core_entry> cores = new HashMap<>();
        List<file_entry> files;
        Map<Integer, byte[]> pipesData = new HashMap<>();
        try {
            inventory_entry inv = dir.inventory();
            rootCgSet = inv.hasRootCgSet() ? inv.getRootCgSet() : dev.cryo.engine.resource.Cgroups.ROOT_SET;
            if (inv.getImgVersion() != 2) {
                throw new CryoException(where + "inventory.img has image version " + inv.getImgVersion() + ", expected 2");
            }
            current = "pstree.img";
            tree = dir.pstree();
            List<TreeTask> tasks = new ArrayList<>();
            for (pstree_entry e : tree) {
                current = "core-" + e.getPid() + ".img";
                core_entry c = dir.core(e.getPid());
                if (!c.hasTc()) {
                    throw new CryoException(where + current + " holds no task state");
                }
                cores.put(e.getPid(), c);
                if (c.getTc().getTaskState() == TaskState.DEAD.code()) {
                    zombieCores.put(e.getPid(), c.getTc());
                }
                tasks.add(TreeTask.fromImage(e, c.getTc()));
            }
            current = "pstree.img";
            plan = TreePlan.of(tasks, options.shellJob()); // refuses a tree it cannot rebuild
            log.debug("restore plan:\n%s", plan);
            pid = plan.root().pid();
            if (plan.root().state() == TaskState.DEAD) {
                throw new CryoException(where + "pid " + pid + " is dead in core-" + pid
                        + ".img; only a live root can be restored");
            }
            current = "ids-" + pid + ".img";
            task_kobj_ids_entry rootIds = dir.ids(pid);
            container = ContainerRestore.of(dir, inv, rootIds, pid, options); // null: a plain tree
            boolean dumpedOwn = rootIds.getTimeNsId() != 0 && inv.hasRootIds()
                    && rootIds.getTimeNsId() != inv.getRootIds().getTimeNsId();
            // the clocks of a namespace of the tree's own are in timens-ID.img, else in timens-0.img (both as CRIU
            // writes them; images of older Cryo builds have timens-0.img alone)
            int timensId = dumpedOwn && dir.exists("timens-" + rootIds.getTimeNsId() + ".img") ? rootIds.getTimeNsId() : 0;
            if ((container == null || !container.newPid()) && dir.exists("timens-" + timensId + ".img")
                    && dev.cryo.engine.resource.TimeNamespace.available()) {
                // a time namespace of the tree's own, made before the root (as CRIU's restore makes one): its
                // clocks go on from the image's, on another machine too
                current = "timens-" + timensId + ".img";
                ownTime = dir.timens(timensId);
                ownTimeDumped = dumpedOwn;
            }
            current = "files.img";
            files = dir.files();
            remaps = DeletedFiles.Restore.open(dir, files, pid, log); // deleted files: named again until restored
            files = remaps.files();
            dev.cryo.engine.resource.Pipe.warnHalfPipes(files, options.files().inheritFds(), log);
            current = "pipes-data.img";
            if (dir.exists("pipes-data.img")) {
                Map<Integer, Integer> sizes = new HashMap<>();
                for (dev.cryo.image.ImageEntry e : dir.pipesData()) {
                    pipe_data_entry pd = (pipe_data_entry) e.message();
                    pipesData.put(pd.getPipeId(), e.payload());
                    if (pd.hasSize()) {
                        sizes.put(pd.getPipeId(), pd.getSize());
                    }
                }
                fdState.put(dev.cryo.engine.resource.Pipe.SIZES, sizes);
            }
        } catch (IOException | RuntimeException e) {
            String why = e instanceof java.nio.file.NoSuchFileException ? "it is missing" : e.getMessage();
            throw new CryoException(where + "cannot read " + current + ": " + why, e);
        }
        shmem = new SharedMemory.Restore(dir, log);
        if (container != null && container.sysvSegmentsImage() != null) {
            shmem.sysvFromNamespace(container.sysvSegmentsImage());
        }
        Map<Integer, TaskBuilder.Image> images = loadImages(tree, cores, files);
        refuseSharedTables(images);
        Set<Integer> passed = SharedFiles.passedFileIds(dir);
        Set<Integer> shared = new TreeSet<>(sharedFileIds(images));
        shared.addAll(passed); // whoever makes a file in flight keeps Cryo a copy, for the queue it is sent through
        Set<Integer> inFlight = new TreeSet<>(passed);
        images.values().forEach(img -> img.fdinfo().forEach(f -> inFlight.remove(f.getId())));
        sharedFiles = new SharedFiles(shared, inFlight);
        sharedFiles.register(fdState);
        dev.cryo.engine.resource.Tty.load(fdState, files, dir, log); // ptys: made once, their sessions at setsid
        dev.cryo.engine.resource.Seccomp.Restore seccomp = dev.cryo.engine.resource.Seccomp.Restore.load(dir);
        cgroups = dev.cryo.engine.resource.Cgroups.Restore.of(dir, rootCgSet, options.cgroups(), log);
        TaskBuilder.Image rootImage = images.get(pid);
        if (rootImage != null) {
            cgroups.treeRoot(rootImage.core().getTc().getCgSet());
        }
        for (TaskBuilder.Image img : images.values()) {
            TaskBuilder b = new TaskBuilder(img, dir, shmem, fdState, pipesData, options, log, container);
            b.cgroups(cgroups);
            b.seccomp(seccomp.plan(img.pstree().getPid(), img.core(), img.threads())); // checked before any task is made
            builders.put(img.pstree().getPid(), b);
        }
    }

    /**
     * Each live task's images ({@link TaskBuilder#load}), in plan order. A tree's are read and parsed on a few
     * threads at once (600 files for 100 tasks, by code still interpreted); a failure is the first task's in plan
     * order, as when they are read one by one.
     */
    private Map<Integer, TaskBuilder.Image> loadImages(List<pstree_entry> tree, Map<Integer, core_entry> cores,
                                                       List<file_entry> files) throws CryoException {
        Map<Integer, pstree_entry> entries = new HashMap<>();
        for (pstree_entry e : tree) {
            entries.put(e.getPid(), e);
        }
        List<TreeTask> live = new ArrayList<>();
        for (TreeTask t : plan.tasks()) {
            if (t.state() != TaskState.DEAD) {
                live.add(t);
            }
        }
        // a small tree's are not worth a thread; each task's outcome stays in plan order
        List<Object> loaded = (live.size() < 16 ? live.stream() : live.parallelStream()).map(t -> {
            try {
                return (Object) TaskBuilder.load(dir, entries.get(t.pid()), cores.get(t.pid()), files);
            } catch (CryoException e) {
                return e;
            }
        }).toList();
        Map<Integer, TaskBuilder.Image> images = new LinkedHashMap<>();
        for (int i = 0; i < live.size(); i++) {
            if (loaded.get(i) instanceof CryoException e) {
                throw e;
            }
            images.put(live.get(i).pid(), (TaskBuilder.Image) loaded.get(i));
        }
        return images;
    }

    /**
     * Processes (not threads) that shared an fd table, fs or signal handlers (clone without CLONE_THREAD) are
     * refused: Cryo gives each process its own.
     */
    private static void refuseSharedTables(Map<Integer, TaskBuilder.Image> images) throws CryoException {
        String[] what = {"fd table (CLONE_FILES)", "fs (CLONE_FS)", "signal handlers (CLONE_SIGHAND)", "memory (CLONE_VM)"};
        List<Map<Integer, Integer>> seen = List.of(new HashMap<>(), new HashMap<>(), new HashMap<>(), new HashMap<>());
        for (TaskBuilder.Image img : images.values()) {
            task_kobj_ids_entry ids = img.ids();
            int[] id = {ids.getFilesId(), ids.getFsId(), ids.getSighandId(), ids.getVmId()};
            boolean[] has = {ids.hasFilesId(), ids.hasFsId(), ids.hasSighandId(), ids.hasVmId()};
            for (int i = 0; i < id.length; i++) {
                if (!has[i] || id[i] == 0) {
                    continue;
                }
                Integer other = seen.get(i).putIfAbsent(id[i], img.pstree().getPid());
                if (other != null) {
                    throw new CryoException("cannot restore the process tree: pids " + other + " and "
                            + img.pstree().getPid() + " share one " + what[i] + " (id " + id[i]
                            + " in their ids images); Cryo cannot restore processes that share it yet");
                }
            }
        }
    }

    /** File ids (files.img) that more than one task's fdinfo names: each comes back one open file description. */
    private static Set<Integer> sharedFileIds(Map<Integer, TaskBuilder.Image> images) {
        Map<Integer, Integer> holders = new HashMap<>();
        for (TaskBuilder.Image img : images.values()) {
            img.fdinfo().stream().map(fdinfo_entry::getId).distinct().forEach(id -> holders.merge(id, 1, Integer::sum));
        }
        Set<Integer> out = new TreeSet<>();
        holders.forEach((id, n) -> {
            if (n > 1) {
                out.add(id);
            }
        });
        return out;
    }

    /**
     * Every pid and tid the tree takes, and every helper's, must be free before the first fork: one taken pid
     * fails the whole restore with nothing made. A pid still held by a dying or unreaped process is waited for,
     * within a bound.
     */
    private void checkPidsFree() throws CryoException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        for (int p : plan.pids()) {
            boolean logged = false;
            while (proc.exists(p)) {
                TaskStat st;
                try {
                    st = proc.stat(p);
                } catch (IOException e) {
                    continue; // gone between the two reads
                }
                boolean dying = st.state() == 'Z' || st.state() == 'X';
                if (!dying || System.nanoTime() > deadline) {
                    throw new CryoException("cannot restore pid " + pid + ": pid " + p + " is in use by '" + st.comm()
                            + "' (state " + st.state() + "), and the tree needs it " + role(p)
                            + "; nothing was restored");
                }
                if (!logged) {
                    log.info("pid %d is still held by a dead process; waiting for it to be reaped", p);
                    logged = true;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
        }
    }

    /** What a pid is in the tree, for messages. */
    private String role(int p) {
        if (p == pid) {
            return "as its root";
        }
        if (plan.helpers().contains(p)) {
            return "for a helper standing in for a dead session or group leader";
        }
        for (TreeTask t : plan.tasks()) {
            if (t.pid() == p) {
                return "for a task";
            }
            if (t.threads().contains(p)) {
                return "for a thread of pid " + t.pid();
            }
        }
        return "";
    }

    private void step(String name, int at) throws CryoException {
        if (name.equals(System.getProperty("cryo.fault.step"))) {
            throw new CryoException("cannot restore pid " + pid + ": fault injected at step '" + name + "' (pid " + at
                    + ")");
        }
    }

    private void execute(PlanStep s) throws CryoException {
        log.debug("plan step: %s", s);
        try {
            if (s instanceof PlanStep.Fork f) {
                step("fork", f.pid());
                if (f.creator() == 0) {
                    forkRoot(f.pid());
                    scripts.run("setup-namespaces", host(f.pid()));
                    scripts.run("post-setup-namespaces");
                } else {
                    buildCreatorFirst(f.creator(), f.pid());
                    forkFrom(task(f.creator()), f.pid());
                }
            } else if (s instanceof PlanStep.SetSid x) {
                step("setsid", x.pid());
                NewTask t = task(x.pid());
                t.remote.call("setsid", Syscall.SETSID);
                // a session leader takes its terminal before it forks the members, which inherit it
                dev.cryo.engine.resource.Tty.afterSetsid(new dev.cryo.engine.resource.FdRestoreContext(x.pid(),
                        t.remote, t.scratch, options, log, Map.of(), fdState));
            } else if (s instanceof PlanStep.SetPgid x) {
                step("setpgid", x.pid());
                int pgid = x.rootGroup() ? rootForkGroup : x.pgid();
                task(x.pid()).remote.call("setpgid(0, " + pgid + ")", Syscall.SETPGID, 0, pgid);
            } else if (s instanceof PlanStep.HoldGroup x) {
                step("hold group", x.pid());
                holdGroup(x.pid(), x.pgid());
            } else if (s instanceof PlanStep.ReleaseGroup x) {
                step("release group", x.pid());
                releaseGroup(x.pid(), x.pgid());
            } else if (s instanceof PlanStep.Subreaper x) {
                step("subreaper", x.pid());
                task(x.pid()).remote.call("prctl(PR_SET_CHILD_SUBREAPER)", Syscall.PRCTL, PR_SET_CHILD_SUBREAPER,
                        x.on() ? 1 : 0);
            } else if (s instanceof PlanStep.ExitHelper x) {
                step("exit helper", x.pid());
                exitHelper(x.pid(), x.reaper());
            } else if (s instanceof PlanStep.Build x) {
                step("build", x.pid());
                made.remove(x.pid()); // its memory, and the scratch page in it, go now
                TaskBuilder b = builders.get(x.pid());
                if (!builtEarly.contains(x.pid())) {
                    b.host(host(x.pid()));
                    b.stepCalls(stepCalls);
                    shmem.fillOn(pageWriter()); // shared objects' bytes too
                    b.buildMemory(pageWriter());
                }
                // the previous task's second half, while this one's pages are written
                finishPendingBuild();
                pendingBuild = b;
            } else if (s instanceof PlanStep.BecomeZombie x) {
                step("zombie", x.pid());
                becomeZombie(x.pid(), x.waitStatus());
            } else if (s instanceof PlanStep.Resume x) {
                if (running.isEmpty()) {
                    step("resume", x.pid()); // once one task runs, the rest must follow
                }
                builders.get(x.pid()).resume(options.leaveStopped() ? WaitStatus.SIGSTOP : x.stopSignal());
                running.add(host(x.pid()));
            }
        } catch (SyscallException | IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": step '" + s + "' failed: " + e.getMessage(), e);
        }
    }

    /**
     * Writes the pages of a tree's tasks while the tracer goes on (one thread, on the CPUs the pin left: the tracer's
     * round trips keep its own); null for a single task, whose build has nothing to do meanwhile but wait for them.
     */
    private java.util.concurrent.ExecutorService pageWriter() {
        if (pageWriter == null && builders.size() > 1 && !"off".equals(System.getProperty("cryo.restore.pageWriter"))) {
            pageWriter = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(() -> {
                    dev.cryo.engine.sys.CpuPin.awayFromPin(); // started by the pinned tracer: its mask is the pin's
                    r.run();
                }, "cryo-page-writer");
                t.setDaemon(true);
                return t;
            });
        }
        return pageWriter;
    }

    private java.util.concurrent.ExecutorService pageWriter;
    /** Tasks whose memory was built before they forked (see {@link #buildCreatorFirst}). */
    private final Set<Integer> builtEarly = new HashSet<>();

    /**
     * Before {@code creator} forks {@code child}: where the two images share private pages (pages a fork left shared
     * copy-on-write at the dump, such as a preforking server's), the creator's memory is built now, so that the
     * child starts with it and keeps those pages shared instead of getting copies of its own; CRIU restores a
     * parent's private memory before its forks for the same reason. The creator's later steps (its other forks, a
     * group it holds) run from its built memory: its vDSO and the build's scratch page. Its pages are written on
     * this thread, as a fork copies only what is there.
     */
    private void buildCreatorFirst(int creator, int child) throws CryoException {
        TaskBuilder c = builders.get(creator), b = builders.get(child);
        if (c == null || b == null) {
            return; // a helper forks, or is forked
        }
        if (!builtEarly.contains(creator)) {
            if ("false".equals(System.getProperty("cryo.restore.cow")) || !c.sharesPagesWith(b)) {
                return;
            }
            step("build", creator);
            c.host(host(creator));
            c.stepCalls(stepCalls);
            shmem.fillOn(pageWriter());
            c.buildMemory(null);
            made.put(creator, new NewTask(host(creator), c.remote(), c.scratch()));
            builtEarly.add(creator);
            log.debug("pid %d: memory built before it forks pid %d, which shares pages of it", creator, child);
        }
        b.inheritFrom(c);
    }

    /** The task whose {@link TaskBuilder#buildMemory} ran and whose {@link TaskBuilder#buildRest} has not yet. */
    private TaskBuilder pendingBuild;

    private void finishPendingBuild() throws CryoException {
        TaskBuilder b = pendingBuild;
        if (b != null) {
            pendingBuild = null;
            b.buildRest(sharedFiles);
        }
    }

    /** The page writer ended, every write handed to it over: nothing writes into a task once the restore is done. */
    private void stopPageWriter() {
        if (pageWriter == null) {
            return;
        }
        pageWriter.shutdown(); // what was handed over ends (a killed task's writes fail at once)
        try {
            while (!pageWriter.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS)) {
                log.warn("still waiting for the page writer to end");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pageWriter = null;
    }

    private NewTask task(int p) throws CryoException {
        NewTask t = made.get(p);
        if (t == null) {
            throw new CryoException("cannot restore pid " + pid + ": the plan uses pid " + p + " before it is made");
        }
        return t;
    }

    /**
     * Every task whole, none running: the SIGCHLDs the restore caused go, registers are set, sockets finish
     * (the root's last, which lifts the network lock), then the caller's last stops before anything runs.
     */
    private void readyAll() throws CryoException {
        shmem.awaitFills(); // every shared object's bytes in
        pagesCheck.await(); // no task runs on pages the check has not passed
        step("ready", pid);
        List<TaskBuilder> order = new ArrayList<>(builders.values());
        order.remove(builders.get(pid));
        order.add(builders.get(pid));
        for (TaskBuilder b : order) {
            b.ready(b.pid() == pid);
        }
        for (TaskBuilder b : order) {
            for (int tid : b.hostTids()) {
                long r = pin.giveBack(tid); // the mask it would have had unpinned, before it runs
                if (r != 0) {
                    log.debug("pid %d: thread %d keeps the CPUs its cgroup gives it (sched_setaffinity: errno %d)",
                            b.pid(), tid, -r);
                }
            }
        }
        scripts.run("post-restore", host(pid)); // the pid the caller sees (runc adopts a container's init by it)
        scripts.run("network-unlock");
        scripts.run("pre-resume");
        String stop = dev.cryo.engine.sys.StopSignals.at("resume"); // a stop signal during the build: cleanUp kills it
        if (stop != null) {
            throw new CryoException("cannot restore pid " + pid + ": Cryo was stopped by " + stop
                    + "; the processes being built were killed, nothing is left");
        }
        String netKey = container == null ? null : container.inheritedNetKey(); // used, though no file of the images
        dev.cryo.engine.resource.InheritedFds.reportUnused(options.files().inheritFds().stream()
                .filter(i -> !i.resource().equals(netKey)).toList(), fdState, log);
        shmem.finish(); // memfd seals, once every mapping is made
        cgroups.finish();
        if (container != null) {
            container.finishIpc(); // a container's SysV segments go back to their owners
        }
        remaps.finish(); // deleted files are deleted again before the tasks run
        sharedFiles.close(); // Cryo's copies of shared descriptions: every task holds its own now
    }

    /** A task in a ptrace stop that still runs its creator's program: remote syscalls and a page for their structs. */
    private static final class NewTask {
        final int pid;
        final RemoteSyscall remote;
        final RemoteScratch scratch;

        /** A task whose build has begun: calls go through the build's. */
        NewTask(int pid, RemoteSyscall remote, RemoteScratch scratch) {
            this.pid = pid;
            this.remote = remote;
            this.scratch = scratch;
        }

        NewTask(int pid, Long site, boolean stepCalls) throws SyscallException, IOException {
            this.pid = pid;
            Registers r = Ptrace.registers(pid);
            RemoteMemory m = new RemoteMemory(pid);
            long at = site != null ? site : SyscallSite.find(m, new ProcFs().fastMaps(pid), r);
            this.remote = new RemoteSyscall(pid, at, r);
            remote.stepCalls(stepCalls);
            this.scratch = RemoteScratch.map(m, remote, 0, 4096);
        }

        /**
         * clone3 with set_tid {child}: a child of this task ({@code flags} 0) or of its parent (CLONE_PARENT);
         * {@code child} 0: any free pid.
         */
        long clone3(int child, long flags) throws SyscallException {
            NativeBuffer args = NativeBuffer.allocate(96);
            args.zero(0, 96);
            args.putLong(0, flags);
            args.putLong(32, (flags & CLONE_PARENT) != 0 ? 0 : SIGCHLD); // exit_signal: must be 0 with CLONE_PARENT
            args.putLong(64, child == 0 ? 0 : scratch.address() + 88); // set_tid
            args.putLong(72, child == 0 ? 0 : 1); // set_tid_size
            args.putLong(88, child);
            scratch.write(0, args.bytes(0, 96));
            long r = remote.raw(Syscall.CLONE3, scratch.address(), 88);
            // a pid /proc no longer shows may still be held for a moment by the task being reaped: try again,
            // within a bound
            for (int tries = 0; r == -17 && child != 0 && tries < 200 && !java.nio.file.Files.exists(Path.of("/proc/" + child)); tries++) {
                java.util.concurrent.locks.LockSupport.parkNanos(5_000_000);
                r = remote.raw(Syscall.CLONE3, scratch.address(), 88);
            }
            return r;
        }

        /** exit_group(code) run in the task; returns once the tracer has seen it exit. */
        WaitStatus exit(int code) throws SyscallException {
            long[] w = Ptrace.registers(pid).words();
            w[Registers.RIP] = remote.site();
            w[Registers.RAX] = EXIT_GROUP;
            w[Registers.ORIG_RAX] = -1;
            w[Registers.RDI] = code;
            Ptrace.setRegisters(pid, new Registers(w));
            return runUntilGone(0);
        }

        /**
         * Lets the task go on until it is gone. Only {@code signal} (0: none) is delivered; any other signal it
         * meets is suppressed (it still runs its creator's code: a handler of the image's would not be there).
         */
        WaitStatus runUntilGone(int signal) throws SyscallException {
            if (signal != WaitStatus.SIGKILL) { // SIGKILL ends it at once, out of its stop: no tracer may let it on
                Ptrace.cont(pid, 0);
            }
            while (true) {
                WaitStatus st = Ptrace.waitFor(pid);
                if (!st.stopped()) {
                    return st;
                }
                Ptrace.cont(pid, st.signalStop() && st.stopSignal() == signal && signal != 0 ? signal : 0);
            }
        }
    }

    /**
     * {@code -Dcryo.restore.step=off}: the remote calls in the tasks being built take an entry and an exit stop each,
     * as before {@link RemoteSyscall#stepCalls}, for A/B runs.
     */
    static final boolean STEP_CALLS = !"off".equals(System.getProperty("cryo.restore.step", "on"));
    /** Whether the tasks' calls are stepped over: the helper neither ignores SIGTRAP nor has one pending. */
    private boolean stepCalls;

    /** How the helper is traced, and so every task made from it (auto-attached tasks inherit their creator's options). */
    static final int TRACE_OPTIONS = Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACEFORK | Ptrace.O_TRACECLONE | Ptrace.O_EXITKILL;

    /** The tree's clocks at the dump (timens-0.img), for its time namespace; null: it shares the restorer's. */
    private dev.cryo.image.proto.timens_entry ownTime;
    /** Whether the tree had a time namespace of its own at the dump: then one is needed, not only better. */
    private boolean ownTimeDumped;

    /** The root: cloned with its pid from a traced helper of Cryo's, with CLONE_PARENT, so it is Cryo's child. */
    private void forkRoot(int root) throws CryoException {
        try {
            helper = HelperProcess.spawn();
            everMade.add(helper);
            pin.apply(helper); // every task is cloned from it, and inherits the pin
            Freezer.freeze(helper, TRACE_OPTIONS);
            Ptrace.setSigmask(helper, -1L); // every task of the tree inherits it: no signal runs a handler while built
            stepCalls = STEP_CALLS && RemoteSyscall.trapFree(helper); // its forks inherit its dispositions, no signal
            NewTask h = new NewTask(helper, null, stepCalls);
            if (ownTime != null) {
                try {
                    dev.cryo.engine.resource.TimeNamespace.prepare(h.remote, helper, ownTime, log); // the root enters it
                } catch (CryoException | SyscallException e) {
                    if (ownTimeDumped) {
                        throw new CryoException("cannot restore pid " + pid + ": it had a time namespace of its own, "
                                + "and none can be made: " + e.getMessage(), e);
                    }
                    // it shared its dumper's: the restorer's serves as before (here a time namespace is refused)
                    log.warn("pid %d comes back in Cryo's time namespace (%s): its monotonic and boot-time clocks are "
                            + "this machine's", pid, e.getMessage());
                }
            }
            // the resident service outlives the request: the root is the helper's child, left to the service's
            // subreaper or init once the helper is gone, as a fresh cryo's exit leaves it (never the service's zombie)
            long parent = options.detached() && (container == null || !container.newPid())
                    && dev.cryo.engine.ResidentMode.on() ? 0 : CLONE_PARENT;
            long r = h.clone3(root, parent | (container != null ? container.cloneFlags() : 0));
            int seen = r > 0 ? (int) r : root; // the helper lives in Cryo's pid namespace: r is the pid Cryo sees
            if (container != null && container.newPid() && r > 0) {
                hostPids.put(root, seen);
                r = root; // set_tid {1} in the new pid namespace: pid 1 inside it
            }
            checkCloned(root, r, "Cryo's helper " + helper);
            everMade.add(seen);
            rootForkGroup = proc.stat(seen).pgid(); // before it makes a group of its own
            WaitStatus st = Ptrace.waitFor(seen);
            if (!st.stopped()) {
                throw new CryoException("cannot restore pid " + pid + ": new task " + st + " before it could be built");
            }
            log.debug("pid %d (host pid %d) cloned from helper %d: %s", root, seen, helper, st);
            killHelper();
            NewTask t = new NewTask(seen, h.remote.site(), stepCalls);
            made.put(root, t);
            if (container != null) {
                // its namespaces are new and empty: the mounts, the root and the names first, as CRIU's root task does
                container.setUp(seen, t.remote, t.scratch, dir, log);
            }
        } catch (SyscallException | IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": creating the task failed: " + e.getMessage(), e);
        }
    }

    /** A child of {@code creator} with its pid; it starts in an event stop, traced like its creator. */
    private void forkFrom(NewTask creator, int child) throws CryoException, SyscallException, IOException {
        long r = creator.clone3(child, 0);
        int seen = seen(creator, child, r);
        checkCloned(child, r, "pid " + creator.pid);
        everMade.add(seen);
        WaitStatus st = Ptrace.waitFor(seen);
        if (!st.stopped()) {
            throw new CryoException("cannot restore pid " + pid + ": new task " + child + " " + st
                    + " before it could be built");
        }
        log.debug("pid %d (host pid %d) forked by %d", child, seen, creator.pid);
        made.put(child, new NewTask(seen, creator.remote.site(), stepCalls));
    }

    /**
     * The pid Cryo sees for {@code want}, just cloned by {@code creator} (clone3 returned {@code r}, the number in the
     * creator's pid namespace): the kernel's event message where they differ (a container's tasks), noted for
     * every later step.
     */
    private int seen(NewTask creator, int want, long r) {
        if (r <= 0) {
            return want;
        }
        int seen = creator.remote.lastChild() > 0 ? creator.remote.lastChild() : (int) r;
        if (seen != r) {
            hostPids.put((int) r, seen);
        }
        return seen;
    }

    /** {@code p} of the images as Cryo sees it. */
    private int host(int p) {
        return hostPids.getOrDefault(p, p);
    }

    /**
     * Why a pid no process has is taken, for the message: the kernel keeps a pid while a group or session of that id
     * lives, such as one a process outside the tree still is in (a zombie not reaped yet, a daemon the tree's task
     * had forked). Looked up only once a clone3 failed.
     */
    private String heldAsId(int want) {
        if (container != null && container.newPid()) {
            return ""; // another pid namespace's
        }
        try (var dirs = Files.list(Path.of("/proc"))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                String name = d.getFileName().toString();
                if (name.isEmpty() || !Character.isDigit(name.charAt(0))) {
                    continue;
                }
                try {
                    TaskStat st = proc.stat(Integer.parseInt(name));
                    if (st.sid() == want || st.pgid() == want) {
                        return ": pid " + name + " ('" + st.comm() + "', state " + st.state() + ") is in "
                                + (st.sid() == want ? "session " : "process group ") + want + ", which keeps the id";
                    }
                } catch (IOException | RuntimeException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            // no better reason to give
        }
        return "";
    }

    private void checkCloned(int want, long r, String by) throws CryoException {
        if (r == -17) {
            throw new CryoException("cannot restore pid " + pid + ": pid " + want + " is taken (clone3: File exists)"
                    + heldAsId(want) + ", and the tree needs it " + role(want));
        }
        if (r < 0) {
            throw new CryoException("cannot restore pid " + pid + ": clone3 of pid " + want + " in " + by
                    + " failed: " + SyscallException.describe((int) -r)
                    + (r == -1 ? " (Cryo needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE)" : ""));
        }
        if (r != want) {
            everMade.add(host((int) r));
            throw new CryoException("cannot restore pid " + pid + ": pid " + want + " came back as " + r);
        }
    }

    /**
     * {@code leader}, in the group it made, forks a child that inherits the group and keeps it while the leader
     * leaves: with any free pid (clone3 without set_tid; every task of the tree has its pid by then), traced and
     * stopped like every task made here, and killed with them on a failure.
     */
    private void holdGroup(int leader, int pgid) throws CryoException, SyscallException, IOException {
        NewTask by = task(leader);
        long r = by.clone3(0, 0);
        if (r <= 0) {
            throw new CryoException("cannot restore pid " + pid + ": pid " + leader + " cannot fork a holder of its "
                    + "group " + pgid + ": clone3 failed: " + SyscallException.describe((int) -r));
        }
        int seen = by.remote.lastChild() > 0 ? by.remote.lastChild() : (int) r;
        everMade.add(seen);
        WaitStatus st = Ptrace.waitFor(seen);
        if (!st.stopped()) {
            throw new CryoException("cannot restore pid " + pid + ": the holder of group " + pgid + " (pid " + seen
                    + ") " + st + " while it held the group");
        }
        log.debug("holder %d (pid %d in %d's namespace) of group %d forked by %d", seen, r, leader, pgid, leader);
        holders.put(pgid, new NewTask(seen, by.remote.site(), stepCalls));
        holderPids.put(pgid, (int) r);
    }

    /** The holder of {@code pgid} exits and its parent {@code leader} reaps it; the group's members keep it. */
    private void releaseGroup(int leader, int pgid) throws CryoException, SyscallException {
        NewTask h = holders.remove(pgid);
        int inParent = holderPids.remove(pgid);
        WaitStatus st = h.exit(0);
        log.debug("holder %d of group %d %s", h.pid, pgid, st);
        long r = task(leader).remote.call("wait4(" + inParent + ")", Syscall.WAIT4, inParent, 0, WALL, 0);
        if (r != inParent) {
            throw new CryoException("cannot restore pid " + pid + ": the holder of group " + pgid + " was not reaped "
                    + "by " + leader);
        }
        everMade.remove(Integer.valueOf(h.pid));
    }

    /** A helper exits; its creator reaps it (a remote wait4), and its children fall to their subreaper. */
    private void exitHelper(int h, int reaper) throws CryoException, SyscallException {
        WaitStatus st = task(h).exit(0);
        made.remove(h);
        log.debug("helper %d %s", h, st);
        long r = task(reaper).remote.call("wait4(" + h + ")", Syscall.WAIT4, h, 0, WALL, 0);
        if (r != h) {
            throw new CryoException("cannot restore pid " + pid + ": helper " + h + " was not reaped by " + reaper);
        }
        everMade.remove(Integer.valueOf(host(h)));
    }

    /**
     * A zombie: the task exits with the image's status (exit_group, or its signal sent with nothing blocking it);
     * the tracer sees the exit first, then it is its parent's, unreaped. /proc still shows a zombie's name,
     * signal mask and dispositions: they are the zombie's core's where it has them, else its parent's (which a
     * child inherits at fork), set before it exits. No other signal reaches it on the way out.
     */
    private void becomeZombie(int z, int waitStatus) throws CryoException, SyscallException {
        NewTask t = task(z);
        task_core_entry own = zombieCores.get(z);
        TreeTask model = plan.task(z);
        TaskBuilder parent = builders.get(model.ppid());
        core_entry pc = parent != null ? parent.image().core() : null;
        if (!own.getComm().isEmpty()) {
            t.remote.call("prctl(PR_SET_NAME)", Syscall.PRCTL, 15 /* PR_SET_NAME */, t.scratch.string(0, own.getComm()));
        }
        List<sa_entry> actions = own.getSigactionsCount() > 0 || pc == null ? own.getSigactionsList()
                : pc.getTc().getSigactionsList();
        dev.cryo.engine.resource.Signals.restoreActions(t.remote, t.scratch, 0, actions);
        // a zombie cannot be seized: a dump without its dispositions had no view of its mask either, unless it
        // wrote one (from /proc/Z/status); a zero there is no news
        long blocked = own.getSigactionsCount() > 0 || own.getBlkSigset() != 0 || pc == null ? own.getBlkSigset()
                : pc.getThreadCore().hasBlkSigset() ? pc.getThreadCore().getBlkSigset() : pc.getTc().getBlkSigset();
        int sig = waitStatus & 0x7f;
        WaitStatus st;
        if (sig != 0) {
            if (sig != WaitStatus.SIGKILL && sig != WaitStatus.SIGSTOP) { // theirs is always the default, and fixed
                NativeBuffer act = NativeBuffer.allocate(32);
                act.zero(0, 32); // SIG_DFL, no flags, empty mask
                t.scratch.write(0, act.bytes(0, 32));
                t.remote.call("rt_sigaction(" + sig + ", SIG_DFL)", 13 /* rt_sigaction */, sig, t.scratch.address(),
                        0, 8);
            }
            if (CORE_SIGNALS.contains(sig)) {
                // its death wrote a core file once (or did not): the restore writes none, nor wakes a core_pattern
                // pipe's handler (which RLIMIT_CORE does not stop); the wait status then lacks the core-dumped flag
                t.remote.call("prctl(PR_SET_DUMPABLE, 0)", Syscall.PRCTL, 4 /* PR_SET_DUMPABLE */, 0);
                if ((waitStatus & 0x80) != 0) {
                    log.info("pid %d: a zombie killed by signal %d that dumped core comes back without the "
                            + "core-dumped flag in its wait status: the restore does not dump core again", z, sig);
                }
            }
            Ptrace.setSigmask(host(z), blocked & ~(1L << (sig - 1)));
            Syscall.call("kill(" + z + ", " + sig + ")", Syscall.KILL, host(z), sig);
            st = t.runUntilGone(sig);
        } else {
            Ptrace.setSigmask(host(z), blocked);
            st = t.exit((waitStatus >> 8) & 0xff);
        }
        made.remove(z);
        log.debug("pid %d is a zombie again: %s", z, st);
    }

    /** Signals whose default action dumps core (signal(7)). */
    private static final java.util.Set<Integer> CORE_SIGNALS = java.util.Set.of(3, 4, 5, 6, 7, 8, 11, 24, 25, 31);

    private void killHelper() {
        if (helper <= 0) {
            return;
        }
        Syscall.raw(Syscall.KILL, helper, WaitStatus.SIGKILL);
        try {
            while (Ptrace.waitFor(helper).stopped()) {
                Ptrace.cont(helper, 0);
            }
        } catch (SyscallException ignored) {
            // already reaped
        }
        everMade.remove(Integer.valueOf(helper));
        helper = -1;
    }

    /**
     * After a failure: every task and helper made is killed, the tracer takes each exit (threads too), the
     * root is reaped here and the rest by their parents or reaper; then it waits, bounded, until no pid of the
     * tree is held.
     */
    private void cleanUp() {
        for (TaskBuilder b : builders.values()) {
            SocketRestore.abort(b.pid(), options.imagesDir(), log);
        }
        for (int p : everMade) {
            if (!running.contains(p)) {
                Syscall.raw(Syscall.KILL, p, WaitStatus.SIGKILL);
            }
        }
        stopPageWriter(); // before any pid is reaped and free to be reused: its writes name tasks by pid
        List<Integer> reap = new ArrayList<>();
        for (TaskBuilder b : builders.values()) {
            reap.addAll(b.threadsMade());
        }
        List<Integer> procs = new ArrayList<>(everMade);
        java.util.Collections.reverse(procs); // children first: each is taken while its parent still holds it
        reap.addAll(procs);
        for (int p : reap) {
            try {
                while (Ptrace.waitFor(p).stopped()) {
                    Ptrace.cont(p, 0);
                }
            } catch (SyscallException ignored) {
                // already reaped, or not ours to wait for
            }
        }
        helper = -1;
        long deadline = System.nanoTime() + 10_000_000_000L;
        for (int p : everMade) {
            while (proc.exists(p) && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            if (proc.exists(p)) {
                log.warn("pid %d of the failed restore is still held", p);
            }
        }
        everMade.clear();
        made.clear();
        holders.clear();
        holderPids.clear();
    }

    private void writeStats(long forkUs, long restoreUs) {
        long pages = 0, compared = 0, skipped = 0;
        for (TaskBuilder b : builders.values()) {
            pages += b.pagesRestored();
            compared += b.pagesCompared();
            skipped += b.pagesSkippedCow();
        }
        try {
            dir.writeRestoreStats(stats_entry.newBuilder().setRestore(restore_stats_entry.newBuilder()
                    .setPagesCompared(compared).setPagesSkippedCow(skipped).setForkingTime((int) forkUs)
                    .setRestoreTime((int) restoreUs).setPagesRestored(pages)).build());
        } catch (IOException e) {
            log.warn("cannot write stats-restore: %s", e.getMessage());
        }
    }

    private void writePidfile() throws CryoException {
        if (options.pidfile() == null) {
            return;
        }
        Path p = options.pidfile().isAbsolute() ? options.pidfile() : options.imagesDir().resolve(options.pidfile());
        try {
            Files.writeString(p, Integer.toString(host(pid)));
        } catch (IOException e) {
            throw new CryoException("restored pid " + pid + ", but cannot write pidfile " + p + ": " + e.getMessage());
        }
    }
}
