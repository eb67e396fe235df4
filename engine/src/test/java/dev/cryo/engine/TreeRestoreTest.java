package dev.cryo.engine;

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
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The restore of a process tree, on trees made from one process's dump ({@link TreeImages}): every task with
 * its pid, parent, group, session and state (helpers for a dead session leader and a dead group leader, a
 * zombie with its status, a stopped task), files shared as one description; a taken pid fails the whole
 * restore before any task is made; a fault at any step leaves no task, helper or held pid.
 */
@ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class TreeRestoreTest {
    /** RestoreRun's steps, each faulted in turn. */
    static final List<String> STEPS = List.of("check pids", "fork", "setsid", "setpgid", "subreaper", "exit helper",
            "build", "zombie", "ready", "resume");

    @TempDir
    Path tmp;

    /** What /proc/PID/stat says: state, ppid, pgid, sid; null when the pid is free. */
    record Stat(char state, int ppid, int pgid, int sid) {
        static Stat of(int pid) {
            try {
                String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
                String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
                return new Stat(f[0].charAt(0), Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]));
            } catch (IOException e) {
                return null;
            }
        }
    }

    /**
     * A counter dumped, then its tree: root P; A leads its own group; B is in A's group; D is in session S,
     * whose leader is dead; E is in group G, whose leader is dead; Z is a zombie (exit 3); T is stopped.
     */
    private record Tree(Path images, Path out, int root, int a, int b, int d, int e, int z, int t, int s, int g) {
        List<Integer> tasks() {
            return List.of(root, a, b, d, e, z, t);
        }

        List<Integer> all() {
            return List.of(root, a, b, d, e, z, t, s, g);
        }
    }

    /** A counter's images (img) and output (out.txt), dumped and killed; its pid, free again. */
    private int dumpedCounter() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        int root;
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            root = t.pid();
        }
        int original = root; // the killed original is init's to reap: its pid is free only then
        await().atMost(Duration.ofSeconds(10)).until(() -> Stat.of(original) == null);
        return root;
    }

    private Tree dumpedTree() throws Exception {
        int root = dumpedCounter();
        Path img = tmp.resolve("img");
        Path out = tmp.resolve("out.txt");
        List<Integer> p = TreeImages.freePids(8);
        int a = p.get(0), b = p.get(1), d = p.get(2), e = p.get(3), z = p.get(4), t = p.get(5), s = p.get(6), g = p.get(7);
        TreeImages tree = TreeImages.of(img);
        int[] r = tree.rootIds();
        int pgid = r[2], sid = r[3];
        tree.twin(a, root, a, sid, 0)
                .twin(b, root, a, sid, 0)
                .twin(d, root, d, s, 0)
                .twin(e, root, g, sid, 0)
                .zombie(z, root, pgid, sid, 3 << 8)
                .twin(t, root, pgid, sid, 19);
        return new Tree(img, out, root, a, b, d, e, z, t, s, g);
    }

    private static void killAll(Tree tree) {
        for (int p : tree.tasks()) {
            Syscall.raw(Syscall.KILL, p, 9);
        }
        Reaper.reap(tree.root());
        await().atMost(Duration.ofSeconds(10)).until(() -> tree.tasks().stream().allMatch(p -> Stat.of(p) == null));
    }

    private static void nothingLeft(Tree tree, String what) {
        for (int p : tree.all()) {
            assertEquals(null, Stat.of(p), what + ": pid " + p + " is not held");
        }
    }

    @Test
    void everyTaskComesBackWithItsIdsStateAndSharedFiles() throws Exception {
        Tree tree = dumpedTree();
        assertEquals(0, Checkpoint.restore(tree.images()));
        try {
            Stat root = Stat.of(tree.root());
            assertTrue(root != null && root.state() != 'Z', "the root runs");
            int pgid = root.pgid(), sid = root.sid(), p = tree.root();
            assertEquals(new Stat('S', p, tree.a(), sid), sleeping(tree.a()), "A leads its own group");
            assertEquals(new Stat('S', p, tree.a(), sid), sleeping(tree.b()), "B is in A's group");
            assertEquals(new Stat('S', p, tree.d(), tree.s()), sleeping(tree.d()), "D is in the dead leader's session");
            assertEquals(new Stat('S', p, tree.g(), sid), sleeping(tree.e()), "E is in the dead leader's group");
            assertEquals(new Stat('Z', p, pgid, sid), Stat.of(tree.z()), "Z is the root's zombie again");
            // detached with its SIGSTOP pending, it stops on its way out of the kernel: once it was scheduled
            await().atMost(Duration.ofSeconds(10)).until(() -> Stat.of(tree.t()).state() != 'R');
            assertEquals('T', Stat.of(tree.t()).state(), "T is stopped again");
            assertEquals(null, Stat.of(tree.s()), "the session helper is gone");
            assertEquals(null, Stat.of(tree.g()), "the group helper is gone");
            assertEquals("zombie", Files.readString(Path.of("/proc/" + tree.z() + "/comm")).strip());
            for (int task : List.of(tree.a(), tree.b(), tree.d(), tree.e(), tree.t())) {
                assertEquals(0, Syscall.raw(Syscall.KCMP, p, task, 0 /* KCMP_FILE */, 1, 1),
                        "fd 1 of pid " + task + " is the root's open file description, not a copy");
            }
            assertFalse(Files.readString(Path.of("/proc/" + tree.d() + "/status")).contains("TracerPid:\t" +
                    ProcessHandle.current().pid()), "no task is left traced");
            // the plan's steps ran, each once, in the plan's order (the -v4 log prints the plan, then each step)
            List<String> log = Files.readAllLines(tree.images().resolve("restore.log"));
            int at = log.indexOf(log.stream().filter(l -> l.endsWith("restore plan:")).findFirst().orElseThrow());
            List<String> plan = new ArrayList<>();
            for (int i = at + 1; i < log.size() && !log.get(i).startsWith("("); i++) {
                if (!log.get(i).isBlank()) {
                    plan.add(log.get(i));
                }
            }
            List<String> ran = log.stream().filter(l -> l.contains(") plan step: "))
                    .map(l -> l.substring(l.indexOf("plan step: ") + "plan step: ".length())).toList();
            assertEquals(plan, ran, "the steps run are the plan's, in its order");
            assertTrue(plan.stream().anyMatch(l -> l.startsWith("fork helper")) && plan.stream().anyMatch(
                    l -> l.startsWith("zombie")) && plan.stream().anyMatch(l -> l.contains("stopped")), plan.toString());
            int before = Files.readAllLines(tree.out()).size();
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.readAllLines(tree.out()).size() > before + 20);
        } finally {
            killAll(tree);
        }
    }

    /** The state of a task that counts and sleeps: S, or R caught between two sleeps. */
    private static Stat sleeping(int pid) {
        Stat s = Stat.of(pid);
        return s == null ? null : new Stat(s.state() == 'R' ? 'S' : s.state(), s.ppid(), s.pgid(), s.sid());
    }

    /**
     * X is in Y's group and Y in X's, neither group with another member (a third task held X's group while Y joined
     * it, then left): each leader makes its group again and leaves it for the other's, which needs a holder
     * forked by one of them for the moment between; the holder is gone after, and a fault there leaves nothing.
     */
    @Test
    void twoLeadersInEachOthersGroupsComeBackThroughAHolder() throws Exception {
        int root = dumpedCounter();
        Path img = tmp.resolve("img");
        Path out = tmp.resolve("out.txt");
        List<Integer> p = TreeImages.freePids(2);
        int x = p.get(0), y = p.get(1);
        TreeImages tree = TreeImages.of(img);
        int sid = tree.rootIds()[3];
        tree.twin(x, root, y, sid, 0).twin(y, x, x, sid, 0);
        Tree all = new Tree(img, out, root, x, y, x, y, x, y, x, y);

        for (String step : List.of("hold group", "release group")) { // before the holder is made, and while it lives
            System.setProperty("cryo.fault.step", step);
            try {
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("fault injected at step '" + step + "'"), m);
            } finally {
                System.clearProperty("cryo.fault.step");
            }
            nothingLeft(all, "restore faulted at " + step);
            boolean held = false;
            for (String l : Files.readAllLines(img.resolve("restore.log"))) {
                java.util.regex.Matcher h = java.util.regex.Pattern.compile("\\) holder (\\d+) \\(pid").matcher(l);
                if (h.find()) {
                    int holder = Integer.parseInt(h.group(1));
                    assertTrue(step.equals("release group"), "a holder is made before the fault at " + step);
                    await().atMost(Duration.ofSeconds(10)).until(() -> Stat.of(holder) == null);
                    held = true;
                }
            }
            assertEquals(step.equals("release group"), held, "the log names the holder the fault left behind");
        }

        assertEquals(0, Checkpoint.restore(img));
        try {
            assertEquals(new Stat('S', root, y, sleeping(root).sid()), sleeping(x), "X is in Y's group");
            assertEquals(new Stat('S', x, x, sleeping(root).sid()), sleeping(y), "Y is in X's group");
            for (int task : List.of(root, x, y)) {
                String children = Files.readString(Path.of("/proc/" + task + "/task/" + task + "/children")).strip();
                assertEquals(task == root ? String.valueOf(x) : task == x ? String.valueOf(y) : "", children,
                        "pid " + task + "'s children: the holder is gone");
            }
            List<String> log = Files.readAllLines(img.resolve("restore.log"));
            assertTrue(log.stream().anyMatch(l -> l.endsWith("plan step: fork holder of group " + x + " by " + x)),
                    "the plan holds X's group while X leaves it");
            int before = Files.readAllLines(out).size();
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.readAllLines(out).size() > before + 20);
        } finally {
            for (int task : List.of(root, x, y)) {
                Syscall.raw(Syscall.KILL, task, 9);
            }
            Reaper.reap(root);
            await().atMost(Duration.ofSeconds(10)).until(() -> List.of(root, x, y).stream()
                    .allMatch(q -> Stat.of(q) == null));
        }
    }

    @Test
    void oneTakenPidFailsTheWholeRestoreBeforeAnyTaskIsMade() throws Exception {
        Tree tree = dumpedTree();
        Path sleep = Path.of(Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep");
        try (Target holder = Target.start(sleep, tmp.resolve("sleep.txt"), "600")) {
            // the holder's pid stands for E in the images: one pid of the tree is in use
            var dir = dev.cryo.image.ImageDir.open(tree.images());
            List<dev.cryo.image.proto.pstree_entry> entries = new ArrayList<>();
            for (var e : dir.pstree()) {
                entries.add(e.getPid() == tree.e() ? e.toBuilder().setPid(holder.pid()).clearThreads()
                        .addThreads(holder.pid()).build() : e);
            }
            dir.writePstree(entries);
            for (String kind : List.of("core", "mm", "pagemap", "fs", "ids")) {
                Files.copy(tree.images().resolve(kind + "-" + tree.e() + ".img"),
                        tree.images().resolve(kind + "-" + holder.pid() + ".img"));
            }
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(tree.images())).getMessage();
            assertTrue(m.contains("pid " + holder.pid()) && m.contains("in use") && m.contains("nothing was restored"), m);
            nothingLeft(tree, "after a taken pid");
            assertTrue(holder.alive(), "the process holding the pid is untouched");
        }
    }

    @Test
    void aFaultAtEveryRestoreStepLeavesNoTaskHelperOrHeldPid() throws Exception {
        Tree tree = dumpedTree();
        for (String step : STEPS) {
            System.setProperty("cryo.fault.step", step);
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(tree.images()),
                    "restore faulted at " + step).getMessage();
            assertTrue(m.contains("fault injected at step '" + step + "'"), m);
            nothingLeft(tree, "restore faulted at " + step);
        }
        System.clearProperty("cryo.fault.step");
        assertEquals(0, Checkpoint.restore(tree.images()), "the images are intact");
        killAll(tree);
    }
}
