package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --freeze-cgroup}: a tree frozen through its freezer cgroup (cgroup v1 {@code freezer.state}, cgroup v2
 * {@code cgroup.freeze}), then seized, as CRIU freezes it. Each test makes its own cgroup and removes it. The tree is
 * the self-checking {@code randtree} fixture: a root with threads, a child with a pipe to it and a thread of its own,
 * a grandchild, a stopped child and a zombie; its verdict checks ids, threads, pipe data, the stopped and the zombie.
 */
@RootWithPtrace
class FreezeCgroupTest {
    static final String TREE = "--tree=0::1,1:p:0,0:t:0,0:z:0";

    @TempDir
    Path tmp;

    private final List<FreezerGroup> groups = new ArrayList<>();
    private final List<Target> targets = new ArrayList<>();

    /** A freezer cgroup of the test's own: v1 under the freezer hierarchy, v2 under the unified one. */
    final class FreezerGroup implements AutoCloseable {
        final Path dir;
        final boolean v2;

        FreezerGroup(boolean v2) throws IOException {
            Path root = Path.of(v2 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup/freezer");
            String probe = v2 ? "cgroup.freeze" : "tasks";
            boolean usable = Files.isDirectory(root) && Files.exists(root.resolve(v2 ? "cgroup.procs" : probe))
                    && (v2 ? Files.exists(root.resolve("cgroup.threads")) : !Files.exists(root.resolve("cgroup.freeze")));
            if (!usable) {
                System.out.println("SKIPPED: no cgroup " + (v2 ? "v2" : "v1 freezer") + " hierarchy at " + root);
            }
            Assumptions.assumeTrue(usable, "no cgroup " + (v2 ? "v2" : "v1 freezer") + " hierarchy at " + root);
            this.v2 = v2;
            this.dir = root.resolve("cryo-test-freeze-" + ProcessHandle.current().pid() + "-" + groups.size());
            Files.createDirectories(dir);
            groups.add(this);
        }

        String state() throws IOException {
            if (v2) {
                boolean frozen = Files.readAllLines(dir.resolve("cgroup.events")).contains("frozen 1");
                return Files.readString(dir.resolve("cgroup.freeze")).strip().equals("0") ? "THAWED"
                        : frozen ? "FROZEN" : "FREEZING";
            }
            return Files.readString(dir.resolve("freezer.state")).strip();
        }

        void set(boolean frozen) throws IOException {
            Files.writeString(dir.resolve(v2 ? "cgroup.freeze" : "freezer.state"),
                    v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED"));
        }

        Set<Integer> tids() throws IOException {
            Set<Integer> s = new TreeSet<>();
            for (String l : Files.readAllLines(dir.resolve(v2 ? "cgroup.threads" : "tasks"))) {
                if (!l.isBlank()) {
                    s.add(Integer.parseInt(l.strip()));
                }
            }
            return s;
        }

        /** Starts {@code exe args} as a process of this cgroup from its first instruction. */
        Target start(Path out, String... command) throws Exception {
            StringBuilder sh = new StringBuilder("echo $$ > " + dir.resolve("cgroup.procs") + " && exec");
            for (String c : command) {
                sh.append(' ').append(c);
            }
            Target t = Target.start(Path.of("/bin/sh"), out, "-c", sh.toString());
            targets.add(t);
            return t;
        }

        /** Thawed, emptied (SIGKILL to what is left) and removed, whatever the test did. */
        @Override
        public void close() throws IOException {
            if (!Files.isDirectory(dir)) {
                return;
            }
            set(false);
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                for (int tid : tids()) {
                    dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, tid, 9);
                }
                return tids().isEmpty();
            });
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
                Files.delete(dir);
                return true;
            });
        }
    }

    /** Every task of the trees the test started (the fixture's root leaves its tree running after its verdict). */
    private final Set<Integer> treePids = new TreeSet<>();

    @AfterEach
    void cleanUp() throws IOException {
        for (Target t : targets) {
            t.close();
        }
        for (int pid : treePids) {
            try {
                if (Files.readString(Path.of("/proc/" + pid + "/comm")).strip().equals("randtree")) {
                    dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, pid, 9);
                }
            } catch (IOException e) {
                // gone
            }
        }
        for (FreezerGroup g : groups) {
            g.close();
        }
    }

    private Target startTree(FreezerGroup g) throws Exception {
        Target t = g.start(tmp.resolve("out.txt"), "env", "CRYO_FX_READY=" + tmp.resolve("ready"),
                "CRYO_FX_RESULT=" + tmp.resolve("result"), ThreadsRoundTripTest.fixture("randtree").toString(), TREE,
                "--root-threads=2");
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(tmp.resolve("ready")));
        treeTids(t.pid()).forEach(pt -> treePids.add(Integer.parseInt(pt.split("/")[0])));
        return t;
    }

    private String verdict(Target t) throws Exception {
        ProcessStateRoundTripTest.kill("-USR2", t.pid());
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(tmp.resolve("result")));
        return Files.readString(tmp.resolve("result")).strip();
    }

    /** Every task of the tree under {@code root}, with their threads: pid/tid. */
    static Set<String> treeTids(int root) throws IOException {
        Set<String> all = new TreeSet<>();
        List<Integer> todo = new ArrayList<>(List.of(root));
        while (!todo.isEmpty()) {
            int pid = todo.remove(0);
            try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
                for (Path task : s.toList()) {
                    all.add(pid + "/" + task.getFileName());
                    for (String c : Files.readString(task.resolve("children")).trim().split(" +")) {
                        if (!c.isEmpty()) {
                            todo.add(Integer.parseInt(c));
                        }
                    }
                }
            }
        }
        return all;
    }

    /** No task of the tree is traced: the dump let every one go. */
    static void assertUntraced(Set<String> tids) throws IOException {
        for (String pt : tids) {
            Path status = Path.of("/proc/" + pt.split("/")[0] + "/task/" + pt.split("/")[1] + "/status");
            if (Files.exists(status)) {
                assertTrue(Files.readAllLines(status).contains("TracerPid:\t0"), pt + " is let go");
            }
        }
    }

    /** Runs cryo's CLI in a JVM of its own; it must succeed. */
    static void cli(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                dev.cryo.engine.cli.Main.class.getName()));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "cryo " + args[0] + " ends");
        assertEquals(0, p.exitValue(), "cryo " + String.join(" ", args) + ": " + out);
    }

    private DumpOptions options(Target t, Path img, boolean leaveRunning, FreezerGroup g) {
        return Checkpoint.dumpOptions(t.pid(), img, leaveRunning).withFreezeCgroup(g.dir.toString());
    }

    /** A child of {@code pid} in state S, or 0. */
    private static int sleepingChild(int pid) throws IOException {
        for (String c : Files.readString(Path.of("/proc/" + pid + "/task/" + pid + "/children")).trim().split(" ")) {
            try {
                String stat = Files.readString(Path.of("/proc/" + c + "/stat"));
                if (stat.substring(stat.lastIndexOf(')') + 2).startsWith("S")) {
                    return Integer.parseInt(c);
                }
            } catch (java.nio.file.NoSuchFileException gone) {
                // exited meanwhile
            }
        }
        return 0;
    }

    @ParameterizedTest(name = "cgroup v{0}")
    @ValueSource(ints = {1, 2})
    void aTreeFrozenThroughItsCgroupComesBackWithItsPidsAndGoesOn(int version) throws Exception {
        FreezerGroup g = new FreezerGroup(version == 2);
        Target t = startTree(g);
        Set<String> before = treeTids(t.pid());
        assertTrue(before.size() >= 6, "the tree stands: " + before);
        Path img = Files.createDirectory(tmp.resolve("img"));
        // as a user runs it: the CLI in a JVM of its own (its restore -d leaves the root to init, as before the dump)
        cli("dump", "-t", Integer.toString(t.pid()), "-D", img.toString(), "-o", "dump.log", "-v4", "-j",
                "--freeze-cgroup", g.dir.toString());
        String log = Files.readString(img.resolve("dump.log"));
        assertTrue(log.contains("through freezer cgroup " + g.dir) && !log.contains("outlasted"),
                "every task but the stopped one seized while frozen: " + log);
        await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
        assertEquals("THAWED", g.state(), "the cgroup is left thawed");
        await().atMost(Duration.ofSeconds(10)).until(() -> g.tids().isEmpty());
        cli("restore", "-d", "-j", "-D", img.toString(), "-o", "restore.log", "-v4");
        assertEquals(before, treeTids(t.pid()), "every task and thread is back with its pid");
        assertEquals("PASS", verdict(t));
    }

    @ParameterizedTest(name = "frozen before: {0}")
    @ValueSource(booleans = {false, true})
    void aTaskOfTheCgroupOutsideTheTreeIsRefusedAndTheTreeRunsOn(boolean frozenBefore) throws Exception {
        FreezerGroup g = new FreezerGroup(false);
        Target t = startTree(g);
        Target stranger = g.start(tmp.resolve("stranger.txt"), "sleep", "1000");
        await().atMost(Duration.ofSeconds(10)).until(() -> g.tids().contains(stranger.pid()));
        Set<String> before = treeTids(t.pid());
        if (frozenBefore) {
            g.set(true);
            await().atMost(Duration.ofSeconds(10)).until(() -> g.state().equals("FROZEN"));
        }
        CryoException e = assertThrows(CryoException.class,
                () -> Checkpoint.dump(options(t, tmp.resolve("img"), false, g)));
        assertTrue(e.getMessage().contains("freezer cgroup " + g.dir + " holds pid " + stranger.pid() + " (sleep)")
                && e.getMessage().contains("not in the tree of pid " + t.pid()), e.getMessage());
        assertEquals(frozenBefore ? "FROZEN" : "THAWED", g.state(), "the cgroup as the dump found it");
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        g.set(false);
        assertTrue(stranger.alive(), "the other task runs on");
        assertEquals("PASS", verdict(t));
    }

    @Test
    void aTaskOfTheTreeOutsideTheCgroupIsRefusedAndTheTreeRunsOn() throws Exception {
        FreezerGroup g = new FreezerGroup(false);
        Target t = startTree(g);
        // a live child (not the zombie, not the stopped one), seen asleep: on a loaded machine it may be running at
        // the first look
        int[] found = new int[1];
        await().atMost(Duration.ofSeconds(10)).until(() -> (found[0] = sleepingChild(t.pid())) > 0);
        int child = found[0];
        Files.writeString(Path.of("/sys/fs/cgroup/freezer/cgroup.procs"), Integer.toString(child)); // out, to the root
        Set<String> before = treeTids(t.pid());
        CryoException e = assertThrows(CryoException.class,
                () -> Checkpoint.dump(options(t, tmp.resolve("img"), false, g)));
        assertTrue(e.getMessage().contains("process " + child + " of its tree")
                && e.getMessage().contains("is not in freezer cgroup " + g.dir), e.getMessage());
        assertEquals("THAWED", g.state(), "the cgroup is thawed again");
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        assertEquals("PASS", verdict(t));
    }

    @ParameterizedTest(name = "cgroup v{0}")
    @ValueSource(ints = {1, 2})
    void aCgroupFrozenBeforeTheDumpIsLeftFrozenWithItsTreeAsItWas(int version) throws Exception {
        FreezerGroup g = new FreezerGroup(version == 2);
        Target t = startTree(g);
        Set<String> before = treeTids(t.pid());
        g.set(true);
        await().atMost(Duration.ofSeconds(10)).until(() -> g.state().equals("FROZEN"));
        Checkpoint.dump(options(t, tmp.resolve("img"), true, g));
        assertEquals("FROZEN", g.state(), "left frozen, as the dump found it");
        // frozen, every task reads as 'D' (v1): the stopped one is still dumped stopped, the rest alive
        var dir = dev.cryo.image.ImageDir.open(tmp.resolve("img"));
        List<Integer> states = new ArrayList<>();
        int stopped = 0;
        for (var e : dir.pstree()) {
            states.add(dir.core(e.getPid()).getTc().getTaskState());
            stopped = states.get(states.size() - 1) == 3 ? e.getPid() : stopped;
        }
        states.sort(null);
        assertEquals(List.of(1, 1, 1, 2, 3), states, "alive, alive, alive, the zombie, the stopped child");
        // let go before the cgroup froze again: back in its own stop, not a tracer's, so the thaw does not wake it
        assertEquals("do_signal_stop", Files.readString(Path.of("/proc/" + stopped + "/wchan")).strip());
        String log = Files.readString(tmp.resolve("img").resolve("dump.log"));
        assertTrue(log.contains("through freezer cgroup " + g.dir) && !log.contains("outlasted"),
                "every task but the stopped one seized while frozen: " + log);
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        g.set(false);
        assertEquals("PASS", verdict(t));
    }

    /** A dump that fails at any step after the freeze leaves the cgroup as it found it, and the tree as it was. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"collect/THAWED", "write images/THAWED", "kill/THAWED", "collect/FROZEN",
            "kill/FROZEN"})
    void aDumpFailingAtAStepLeavesTheCgroupAndTheTreeAsTheyWere(String faultAndState) throws Exception {
        String step = faultAndState.split("/")[0];
        boolean frozenBefore = faultAndState.endsWith("FROZEN");
        FreezerGroup g = new FreezerGroup(false);
        Target t = startTree(g);
        Set<String> before = treeTids(t.pid());
        if (frozenBefore) {
            g.set(true);
            await().atMost(Duration.ofSeconds(10)).until(() -> g.state().equals("FROZEN"));
        }
        System.setProperty("cryo.fault.step", step);
        try {
            CryoException e = assertThrows(CryoException.class,
                    () -> Checkpoint.dump(options(t, tmp.resolve("img"), false, g)));
            assertTrue(e.getMessage().contains("fault injected at step '" + step + "'"), e.getMessage());
        } finally {
            System.clearProperty("cryo.fault.step");
        }
        assertEquals(frozenBefore ? "FROZEN" : "THAWED", g.state(), "the cgroup as the dump found it");
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        g.set(false);
        assertEquals("PASS", verdict(t));
    }

    /**
     * A seize that fails half-way through a multi-threaded child (one thread seized and interrupted while frozen, the
     * others not): the cgroup is thawed so that thread stops and can be let go, then it is as the dump found it.
     */
    @ParameterizedTest(name = "frozen before: {0}")
    @ValueSource(booleans = {false, true})
    void aSeizeFailingWhileFrozenLeavesTheCgroupAndTheTreeAsTheyWere(boolean frozenBefore) throws Exception {
        FreezerGroup g = new FreezerGroup(false);
        Target t = startTree(g);
        Set<String> before = treeTids(t.pid());
        int child = before.stream().filter(pt -> !pt.startsWith(t.pid() + "/"))
                .filter(pt -> before.stream().filter(o -> o.startsWith(pt.split("/")[0] + "/")).count() == 2)
                .map(pt -> Integer.parseInt(pt.split("/")[0])).findFirst().orElseThrow();
        if (frozenBefore) {
            g.set(true);
            await().atMost(Duration.ofSeconds(10)).until(() -> g.state().equals("FROZEN"));
        }
        System.setProperty("cryo.fault.cgroup-seize", Integer.toString(child));
        try {
            CryoException e = assertThrows(CryoException.class,
                    () -> Checkpoint.dump(options(t, tmp.resolve("img"), false, g)));
            assertTrue(e.getMessage().contains("process " + child + " of the tree of " + t.pid()
                    + ": fault injected while seizing it"), e.getMessage());
        } finally {
            System.clearProperty("cryo.fault.cgroup-seize");
        }
        assertEquals(frozenBefore ? "FROZEN" : "THAWED", g.state(), "the cgroup as the dump found it");
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        g.set(false);
        assertEquals("PASS", verdict(t));
    }

    @Test
    void anotherCgroupThanTheTreesIsRefusedBeforeItIsFrozen() throws Exception {
        FreezerGroup mine = new FreezerGroup(false);
        FreezerGroup other = new FreezerGroup(false);
        Target t = startTree(mine);
        Target bystander = other.start(tmp.resolve("bystander.txt"), "sleep", "1000");
        await().atMost(Duration.ofSeconds(10)).until(() -> other.tids().contains(bystander.pid()));
        CryoException e = assertThrows(CryoException.class, () -> Checkpoint.dump(
                Checkpoint.dumpOptions(t.pid(), tmp.resolve("img"), false).withFreezeCgroup(other.dir.toString())));
        assertEquals("cannot dump pid " + t.pid() + ": it is not in freezer cgroup " + other.dir + " (it is in /"
                + mine.dir.getFileName() + "), so the cgroup cannot freeze it: name the tree's own freezer cgroup, or "
                + "dump without --freeze-cgroup", e.getMessage());
        assertFalse(Files.readString(tmp.resolve("img").resolve("dump.log")).contains("before the dump"),
                "the other cgroup was refused before any freeze");
        assertEquals("THAWED", other.state());
        assertEquals("PASS", verdict(t));
    }

    @Test
    void aPathThatIsNoFreezerCgroupIsRefusedBeforeAnythingIsTouched() throws Exception {
        FreezerGroup g = new FreezerGroup(false);
        Target t = startTree(g);
        Set<String> before = treeTids(t.pid());
        for (String path : List.of(tmp.toString(), "/sys/fs/cgroup/freezer", tmp.resolve("none").toString())) {
            Path img = tmp.resolve("img");
            DumpOptions o = Checkpoint.dumpOptions(t.pid(), img, false).withFreezeCgroup(path);
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.dump(o));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + t.pid() + ": --freeze-cgroup " + path + " is not"),
                    e.getMessage());
            assertFalse(Files.exists(img.resolve("inventory.img")), "no image written");
        }
        assertEquals("THAWED", g.state());
        assertEquals(before, treeTids(t.pid()), "the tree is whole");
        assertUntraced(before);
        assertEquals("PASS", verdict(t));
    }
}
