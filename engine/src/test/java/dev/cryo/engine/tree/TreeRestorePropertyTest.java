package dev.cryo.engine.tree;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.Target;
import dev.cryo.engine.testing.TreeImages;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

/**
 * Random trees, as a program's life under the kernel's rules leaves them ({@link TreePlanTest#live}: forks,
 * setsid, setpgid, exits reaped or not, subreapers; up to 30 tasks), restored in the real kernel: the tasks are
 * twins of one dumped counter ({@link TreeImages}), zombies are cores. Every task's parent, group, session and
 * state, and each zombie's exit status, must be the tree's; every helper must be gone.
 */
@ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class TreeRestorePropertyTest {
    @TempDir
    Path tmp;

    @Test
    void randomTreesComeBackWithTheirIdsAndStates() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(50_000));
        Path pristine = tmp.resolve("img");
        int root;
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            Checkpoint.dump(t.pid(), pristine, false);
            root = t.pid();
        }
        int original = root;
        await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + original)));
        int[] n = new int[1];
        qt().withExamples(10).withShrinkCycles(3).forAll(lists().of(integers().between(0, 1 << 20)).ofSizeBetween(1, 40))
                .checkAssert(ops -> {
                    List<TreeTask> model = TreePlanTest.live(false, ops);
                    if (reusesOutsideIds(model)) {
                        return; // the model's root's group or session, outside the tree, numbered as a task of it
                    }
                    try {
                        TreePlan.of(model, false);
                    } catch (CryoException e) {
                        return; // a tree the plan refuses (TreePlanTest covers which)
                    }
                    try {
                        restoreAndCheck(pristine, original, model, tmp.resolve("run-" + n[0]++));
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
    }

    /**
     * Whether a task of the model has the number the model gives the root's group or session, which lie outside the
     * tree: the model then means two things by one number, and the test could not tell which real pid stands for it.
     */
    static boolean reusesOutsideIds(List<TreeTask> model) {
        TreeTask root = model.get(0);
        Set<Integer> outside = new java.util.HashSet<>(List.of(root.pgid(), root.sid()));
        outside.remove(root.pid());
        return model.stream().anyMatch(t -> t != root && outside.contains(t.pid()));
    }

    private static void restoreAndCheck(Path pristine, int root, List<TreeTask> model, Path images) throws Exception {
        copy(pristine, images);
        TreeImages tree = TreeImages.of(images);
        int[] r = tree.rootIds();
        TreeTask modelRoot = model.get(0);
        // every number the model uses for a pid, group or session, given a free real pid; the root's session and
        // group (outside the tree) are the dumped process's
        Set<Integer> numbers = new LinkedHashSet<>();
        for (TreeTask t : model) {
            numbers.addAll(List.of(t.pid(), t.pgid(), t.sid()));
        }
        numbers.remove(modelRoot.pid());
        numbers.remove(modelRoot.pgid());
        numbers.remove(modelRoot.sid());
        // the dumped root's pid is free too (it exited) but is the restored root's: never a task's or helper's
        List<Integer> free = new java.util.ArrayList<>(TreeImages.freePids(numbers.size() + 1));
        free.remove(Integer.valueOf(root));
        Map<Integer, Integer> real = new HashMap<>();
        real.put(modelRoot.pid(), root);
        int i = 0;
        for (int m : numbers) {
            real.put(m, free.get(i++));
        }
        java.util.function.IntUnaryOperator pgidOf = m -> m == modelRoot.pgid() ? r[2] : real.get(m);
        java.util.function.IntUnaryOperator sidOf = m -> m == modelRoot.sid() ? r[3] : real.get(m);
        for (TreeTask t : model.stream().sorted(Comparator.comparingInt(TreeTask::pid)).toList()) {
            if (t == modelRoot) {
                continue;
            }
            int pid = real.get(t.pid()), ppid = real.get(t.ppid());
            int pgid = pgidOf.applyAsInt(t.pgid()), sid = sidOf.applyAsInt(t.sid());
            if (t.state() == TaskState.DEAD) {
                tree.zombie(pid, ppid, pgid, sid, t.exitCode());
            } else {
                tree.twin(pid, ppid, pgid, sid, 0);
            }
        }
        List<Integer> pids = model.stream().map(t -> real.get(t.pid())).toList();
        try {
            assertEquals(0, Checkpoint.restore(images));
            String rootStat = stat(root);
            int rootPgid = Integer.parseInt(rootStat.split(" ")[2]), rootSid = Integer.parseInt(rootStat.split(" ")[3]);
            Map<Integer, String> want = new TreeMap<>(), got = new TreeMap<>();
            for (TreeTask t : model) {
                if (t == modelRoot) {
                    continue;
                }
                int pid = real.get(t.pid());
                int pgid = t.pgid() == modelRoot.pgid() ? rootPgid : real.get(t.pgid());
                int sid = t.sid() == modelRoot.sid() ? rootSid : real.get(t.sid());
                want.put(pid, (t.state() == TaskState.DEAD ? "Z" : "S") + " " + real.get(t.ppid()) + " " + pgid + " "
                        + sid + (t.state() == TaskState.DEAD ? " exit " + t.exitCode() : ""));
                String[] f = stat(pid).split(" ");
                // a live twin is running, sleeping or, for a moment, waiting uninterruptibly (the twins all append
                // to one file and queue on its inode lock): all of them are "alive", as opposed to Z or T
                String state = f[0].equals("R") || f[0].equals("D") ? "S" : f[0];
                got.put(pid, state + " " + f[1] + " " + f[2] + " " + f[3] + (state.equals("Z") ? " exit "
                        + f[f.length - 1] : ""));
            }
            assertEquals(want, got, "each task's state, ppid, pgid, sid (and a zombie's exit status)");
            System.out.printf("random tree restored: %d tasks (%d zombies), %d other groups or sessions%n", model.size(),
                    model.stream().filter(t -> t.state() == TaskState.DEAD).count(),
                    numbers.stream().filter(m -> model.stream().noneMatch(t -> t.pid() == m)).count());
            for (int m : numbers) {
                if (model.stream().noneMatch(t -> t.pid() == m)) {
                    assertEquals(null, statOrNull(real.get(m)), "helper " + real.get(m) + " is gone");
                }
            }
        } finally {
            for (int p : pids) {
                Syscall.raw(Syscall.KILL, p, 9);
            }
            Reaper.reap(root);
            await().atMost(Duration.ofSeconds(10)).until(() -> pids.stream().allMatch(p -> statOrNull(p) == null));
        }
    }

    /** Fields 3 on of /proc/PID/stat, space separated: state, ppid, pgid, sid, ..., exit_code last. */
    private static String stat(int pid) throws IOException {
        String s = Files.readString(Path.of("/proc/" + pid + "/stat")).strip();
        return s.substring(s.lastIndexOf(')') + 2);
    }

    private static String statOrNull(int pid) {
        try {
            return stat(pid);
        } catch (IOException e) {
            return null;
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) {
                if (Files.isRegularFile(p)) {
                    Files.copy(p, to.resolve(p.getFileName()));
                }
            }
        }
    }
}
