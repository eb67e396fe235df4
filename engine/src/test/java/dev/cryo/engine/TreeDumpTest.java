package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dump side of process trees ({@code dump -t PID} takes PID and its descendants): what the images say of each
 * task and of what tasks share, checked through the image-format module and, when installed, CRIU's crit; -R and
 * a failed dump leave every task of the tree as it was.
 */
@RootWithPtrace
class TreeDumpTest {
    @TempDir
    Path tmp;
    private final List<Integer> started = new ArrayList<>();

    @AfterEach
    void killTrees() {
        for (int root : started) {
            ProcessHandle.of(root).ifPresent(h -> {
                h.descendants().forEach(ProcessHandle::destroyForcibly);
                h.destroyForcibly();
            });
            dev.cryo.engine.testing.Reaper.reap(root);
        }
    }

    /** A fixture tree, its root not a child of this JVM (whose reaper would take its ptrace stops). */
    private Target fixture(String name, String... args) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        String[] all = new String[args.length + 3];
        all[0] = "CRYO_FX_READY=" + dir.resolve("ready");
        all[1] = "CRYO_FX_RESULT=" + dir.resolve("result");
        all[2] = ThreadsRoundTripTest.fixture(name).toString();
        System.arraycopy(args, 0, all, 3, args.length);
        Target t = Target.start(Path.of("/usr/bin/env"), dir.resolve("out.txt"), all);
        started.add(t.pid());
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("ready")));
        return t;
    }

    private String verdict(String name, Target t) throws Exception {
        ProcessStateRoundTripTest.kill("-USR2", t.pid());
        Path result = tmp.resolve(name).resolve("result");
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(result));
        return Files.readString(result).strip();
    }

    /** Each task of the tree under {@code root} as /proc shows it: "ppid pgid sid state". */
    private static Map<Integer, String> treeState(int root) throws IOException {
        Map<Integer, String> out = new TreeMap<>();
        List<Integer> queue = new ArrayList<>(List.of(root));
        for (int i = 0; i < queue.size(); i++) {
            int pid = queue.get(i);
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            String tracer = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                    .filter(l -> l.startsWith("TracerPid:")).findFirst().orElse("").replaceAll("\\s+", " ");
            String state = f[0].equals("Z") || f[0].equals("T") ? f[0] : "S"; // running or sleeping: timing
            out.put(pid, (pid == root ? "0" : f[1]) + " " + f[2] + " " + f[3] + " " + state + " " + tracer);
            if (!f[0].equals("Z")) {
                for (String task : listTasks(pid)) {
                    String kids = Files.readString(Path.of("/proc/" + pid + "/task/" + task + "/children")).strip();
                    for (String k : kids.isEmpty() ? new String[0] : kids.split(" ")) {
                        queue.add(Integer.parseInt(k));
                    }
                }
            }
        }
        return out;
    }

    private static String[] listTasks(int pid) throws IOException {
        try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return s.map(p -> p.getFileName().toString()).toArray(String[]::new);
        }
    }

    /** pstree.img as "ppid pgid sid" per pid, in the same form as {@link #treeState}'s first three fields. */
    private static Map<Integer, String> imageTree(ImageDir img) throws IOException {
        Map<Integer, String> out = new TreeMap<>();
        for (pstree_entry e : img.pstree()) {
            out.put(e.getPid(), e.getPpid() + " " + e.getPgid() + " " + e.getSid());
        }
        return out;
    }

    private static Map<Integer, String> idsOnly(Map<Integer, String> state) {
        Map<Integer, String> out = new TreeMap<>();
        state.forEach((p, s) -> out.put(p, String.join(" ", List.of(s.split(" ")).subList(0, 3))));
        return out;
    }

    @Test
    void aForkTreeIsDumpedTaskByTaskWithItsSharedStdoutOnce() throws Exception {
        Target t = fixture("forktree", "--depth=2", "--width=3");
        Map<Integer, String> before = treeState(t.pid());
        assertEquals(13, before.size(), "root, 3 children, 9 grandchildren: " + before);
        Path dir = tmp.resolve("img");
        Checkpoint.dump(t.pid(), dir, true);
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> before.equals(treeState(t.pid())));
        assertEquals(before, treeState(t.pid()), "-R: every task as it was, untraced");
        ImageDir img = ImageDir.open(dir);
        List<pstree_entry> pstree = img.pstree();
        assertEquals(t.pid(), pstree.get(0).getPid(), "the root first");
        assertEquals(idsOnly(before), imageTree(img), "pstree.img: every task's ppid (root's 0), pgid, sid");
        Set<Integer> seen = new HashSet<>();
        for (pstree_entry e : pstree) {
            assertTrue(e.getPpid() == 0 || seen.contains(e.getPpid()), "parents before children: " + e);
            seen.add(e.getPid());
        }
        Set<Integer> pagesIds = new HashSet<>(), filesIds = new HashSet<>();
        Integer stdout = null;
        for (pstree_entry e : pstree) {
            int pid = e.getPid();
            assertEquals(List.of(pid), e.getThreadsList());
            core_entry core = img.core(pid);
            assertEquals(1, core.getTc().getTaskState(), "alive");
            assertTrue(core.hasThreadInfo());
            assertFalse(img.mm(pid).getVmasList().isEmpty(), "mm-" + pid + ".img");
            PageMap pm = img.pagemap(pid);
            assertTrue(pagesIds.add(pm.pagesId()), "a pages id of its own: " + pm.pagesId());
            assertTrue(Files.size(img.pagesPath(pm.pagesId())) > 0, "pages-" + pm.pagesId() + ".img");
            task_kobj_ids_entry ids = img.ids(pid);
            assertTrue(filesIds.add(ids.getFilesId()), "an fd table of its own");
            List<fdinfo_entry> fds = img.fdinfo(ids.getFilesId());
            int out = fds.stream().filter(f -> f.getFd() == 1).findFirst().orElseThrow().getId();
            if (stdout == null) {
                stdout = out;
            }
            assertEquals(stdout, out, "stdout inherited across fork: one file id for every task");
            assertEquals(out, fds.stream().filter(f -> f.getFd() == 2).findFirst().orElseThrow().getId(),
                    "stderr is a dup of stdout");
        }
        assertEquals(1, img.inventory().getRootIds().getFilesId(), "inventory's root_ids: the dumper's own, as CRIU's");
        assertEquals(2, img.ids(t.pid()).getFilesId(), "the root's fd table: the first after the dumper's (a restore "
                + "by CRIU reads an equal one as an fd table shared with the restorer, and refuses it)");
        assertEquals(1, img.files().stream().filter(f -> f.getType() == fd_types.REG
                && f.getReg().getName().endsWith("out.txt")).count(), "one entry for the shared stdout");
        critReads(dir, "pstree.img", "\"pid\": " + pstree.get(pstree.size() - 1).getPid());
        critReads(dir, "fdinfo-" + img.ids(pstree.get(1).getPid()).getFilesId() + ".img", "\"id\": " + stdout);
        assertEquals("PASS", verdict("forktree", t), "the tree runs on after -R with its ids unchanged");
    }

    @Test
    void sessionsGroupsAZombieAndAStoppedTaskAreDumpedAsTheyAre() throws Exception {
        Target t = fixture("sessions");
        Map<Integer, String> before = treeState(t.pid());
        Path dir = tmp.resolve("img");
        Checkpoint.dump(t.pid(), dir, true);
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> before.equals(treeState(t.pid())));
        assertEquals(before, treeState(t.pid()), "-R: every task as it was (the zombie too, the stopped one stopped)");
        ImageDir img = ImageDir.open(dir);
        assertEquals(idsOnly(before), imageTree(img), "pstree.img: ppid, pgid, sid (dead leaders' ids too)");
        int zombies = 0, stopped = 0;
        for (pstree_entry e : img.pstree()) {
            String state = before.get(e.getPid()).split(" ")[3];
            core_entry core = img.core(e.getPid());
            if (state.equals("Z")) {
                zombies++;
                assertEquals(2, core.getTc().getTaskState(), "a zombie's core: TASK_DEAD");
                assertEquals(7 << 8, core.getTc().getExitCode(), "its wait status: exited with 7");
                assertFalse(Files.exists(dir.resolve("mm-" + e.getPid() + ".img")), "no memory");
                assertFalse(Files.exists(dir.resolve("pagemap-" + e.getPid() + ".img")), "no pagemap");
            } else if (state.equals("T")) {
                stopped++;
                assertEquals(3, core.getTc().getTaskState(), "TASK_STOPPED");
                assertEquals(19, core.getTc().getStopSigno(), "stopped by SIGSTOP");
            } else {
                assertEquals(1, core.getTc().getTaskState(), "alive");
            }
        }
        assertEquals(1, zombies);
        assertEquals(1, stopped);
        assertTrue(img.core(t.pid()).getTc().getChildSubreaper(), "the root is a child subreaper");
        critReads(dir, "core-" + img.pstree().stream().filter(e -> before.get(e.getPid()).contains(" Z "))
                .findFirst().orElseThrow().getPid() + ".img", "\"task_state\": 2");
        assertEquals("PASS", verdict("sessions", t));
    }

    @Test
    void aPipeBetweenParentAndChildIsOnePipeWithItsDataOnce() throws Exception {
        Target t = fixture("pipe", "--mode=parent-child");
        Path dir = tmp.resolve("img");
        Checkpoint.dump(t.pid(), dir, true);
        ImageDir img = ImageDir.open(dir);
        List<file_entry> pipes = img.files().stream().filter(f -> f.getType() == fd_types.PIPE).toList();
        Set<Integer> pipeIds = new HashSet<>();
        pipes.forEach(p -> pipeIds.add(p.getPipe().getPipeId()));
        assertEquals(2, pipeIds.size(), "two pipes: " + pipes);
        assertEquals(2, img.pipesData().stream().map(e -> ((dev.cryo.image.proto.pipe_data_entry) e.message())
                .getPipeId()).distinct().count(), "each pipe's data once");
        for (pstree_entry e : img.pstree()) {
            long held = img.fdinfo(img.ids(e.getPid()).getFilesId()).stream()
                    .filter(f -> f.getType() == fd_types.PIPE).count();
            assertEquals(2, held, "each task holds one end of each pipe");
        }
        critReads(dir, "pipes-data.img", "PIPES_DATA");
        assertEquals("PASS", verdict("pipe", t));
    }

    @Test
    void anOpenFileSharedAcrossForkHasOneFileIdForBothTasks() throws Exception {
        Target t = fixture("shared-fd");
        Path dir = tmp.resolve("img");
        Checkpoint.dump(t.pid(), dir, true);
        ImageDir img = ImageDir.open(dir);
        List<pstree_entry> pstree = img.pstree();
        assertEquals(2, pstree.size());
        int parentFile = fd3(img, pstree.get(0).getPid()), childFile = fd3(img, pstree.get(1).getPid());
        assertEquals(parentFile, childFile, "one open file description: one id in files.img");
        file_entry f = img.files().stream().filter(e -> e.getId() == parentFile).findFirst().orElseThrow();
        assertTrue(f.getReg().getPos() > 0, "its shared offset: " + f);
        assertEquals("PASS", verdict("shared-fd", t));
    }

    private static int fd3(ImageDir img, int pid) throws IOException {
        return img.fdinfo(img.ids(pid).getFilesId()).stream().filter(f -> f.getFd() == 3).findFirst().orElseThrow()
                .getId();
    }

    @Test
    void aDumpWithoutLeaveRunningKillsTheWholeTree() throws Exception {
        Target t = fixture("forktree", "--depth=2", "--width=2");
        Set<Integer> tree = treeState(t.pid()).keySet();
        Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
        await().atMost(Duration.ofSeconds(20)).until(() -> tree.stream().noneMatch(TreeDumpTest::running));
        assertEquals(tree.size(), ImageDir.open(tmp.resolve("img")).pstree().size());
    }

    private static boolean running(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aFaultAtEveryStepLeavesEveryTaskOfTheTreeAsItWas() throws Exception {
        Target t = fixture("sessions");
        Map<Integer, String> before = treeState(t.pid());
        try {
            for (String step : FaultAtEveryStepTest.DUMP_STEPS) {
                System.setProperty("cryo.fault.step", step);
                String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(),
                        tmp.resolve("img-" + step.replace(' ', '-')), false)).getMessage();
                assertTrue(m.contains("pid " + t.pid()) && m.contains("fault injected at step '" + step + "'"), m);
                // a stopped task let go wakes for a moment to take up its group stop again: its state settles
                await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> before.equals(treeState(t.pid())));
                assertEquals(before, treeState(t.pid()), "after a fault at " + step + ": every task as it was");
            }
        } finally {
            System.clearProperty("cryo.fault.step");
        }
        assertEquals("PASS", verdict("sessions", t), "the tree checks itself after the failed dumps");
    }

    @Test
    void processesSharingTheirFdTableAreRefusedByName() throws Exception {
        String src = """
                #define _GNU_SOURCE
                #include <sched.h>
                #include <signal.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <unistd.h>
                static int child(void *a) { for (;;) pause(); return 0; }
                int main(void) {
                    char *stack = malloc(65536);
                    int pid = clone(child, stack + 65536, CLONE_FILES | SIGCHLD, NULL);
                    printf("%d\\n", pid); fflush(stdout);
                    for (;;) pause();
                }
                """;
        Path exe = CProgram.compile(tmp, "clonefiles", src);
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        started.add(t.pid());
        t.awaitLines(1);
        int child = Integer.parseInt(t.lines().get(0).strip());
        Map<Integer, String> before = treeState(t.pid());
        String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false))
                .getMessage();
        assertTrue(m.contains(t.pid() + " and " + child) && m.contains("CLONE_FILES"), m);
        assertEquals(before, treeState(t.pid()), "refused before any task is touched");
    }

    @Test
    void aProcessWhosePipePeerIsOutsideTheTreeIsDumpedAsCriuDoes() throws Exception {
        // the shell's pipeline: the reader is the shell's other child, not in the dumped process's tree
        Process sh = new ProcessBuilder("bash", "-c",
                "(exec sleep 1000 </dev/null 2>/dev/null) | (exec cat >/dev/null 2>&1) & echo $!")
                .redirectErrorStream(true).start();
        // $! is the last process of the pipeline (cat); its writer, sleep, is found by its pipe
        int cat = Integer.parseInt(new String(sh.getInputStream().readAllBytes()).strip());
        sh.waitFor(10, TimeUnit.SECONDS);
        started.add(cat);
        String pipe = await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() ->
                Files.readSymbolicLink(Path.of("/proc/" + cat + "/fd/0")).toString(), l -> l.startsWith("pipe:"));
        // as CRIU: the pipe is dumped, and the restore reattaches it with --inherit-fd (InheritFdTest)
        Checkpoint.dump(cat, tmp.resolve("img"), false);
        assertTrue(dev.cryo.image.ImageDir.open(tmp.resolve("img")).files().stream()
                .anyMatch(f -> f.hasPipe() && pipe.equals("pipe:[" + Integer.toUnsignedString(f.getPipe().getPipeId()) + "]")),
                "files.img names " + pipe);
        for (ProcessHandle p : ProcessHandle.allProcesses().toList()) {
            // only the sleep whose stdout is this pipe
            try {
                if (Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/fd/1")).toString().equals(pipe)) {
                    started.add((int) p.pid());
                }
            } catch (IOException ignored) {
                // not ours
            }
        }
    }

    /** A parent and child joined by a stream and a datagram socketpair, messages queued both ways. */
    static final String SOCKETPAIRS = """
            #define _GNU_SOURCE
            #include <sys/socket.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <stdlib.h>
            #include <signal.h>
            #include <sys/wait.h>
            static volatile int go;
            static void on(int s) { go = 1; }
            int main(void) {
                int st[2], dg[2];
                socketpair(AF_UNIX, SOCK_STREAM, 0, st); socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
                signal(SIGUSR2, on);
                pid_t kid = fork();
                if (kid == 0) {
                    close(st[0]); close(dg[0]);
                    send(st[1], "to-parent", 9, 0); send(dg[1], "d1", 2, 0); send(dg[1], "d2", 2, 0);
                    while (!go) pause();
                    char b[16] = {0}; int n = recv(st[1], b, sizeof b, MSG_DONTWAIT);
                    _exit(n == 8 && !memcmp(b, "to-child", 8) ? 0 : 1);
                }
                close(st[1]); close(dg[1]);
                send(st[0], "to-child", 8, 0);
                usleep(100000);
                FILE *f = fopen(getenv("CRYO_FX_READY"), "w"); fprintf(f, "%d\\n", getpid()); fclose(f);
                while (!go) pause();
                kill(kid, SIGUSR2);
                char b[16] = {0}; int n = recv(st[0], b, sizeof b, MSG_DONTWAIT);
                char d1[4] = {0}, d2[4] = {0}; recv(dg[0], d1, 4, MSG_DONTWAIT); recv(dg[0], d2, 4, MSG_DONTWAIT);
                int status; waitpid(kid, &status, 0);
                int ok = n == 9 && !memcmp(b, "to-parent", 9) && !strcmp(d1, "d1") && !strcmp(d2, "d2") && WIFEXITED(status) && WEXITSTATUS(status) == 0;
                f = fopen(getenv("CRYO_FX_RESULT"), "w"); fprintf(f, ok ? "PASS\\n" : "FAIL %d %s %s %s %d\\n", n, b, d1, d2, status); fclose(f);
                return 0;
            }
            """;

    @Test
    void socketpairsBetweenParentAndChildAreDumpedWithTheirQueuesOnce() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("socketpairs"));
        Path exe = CProgram.compile(dir, "socketpairs", SOCKETPAIRS);
        Target t = Target.start(Path.of("/usr/bin/env"), dir.resolve("out.txt"), "CRYO_FX_READY=" + dir.resolve("ready"),
                "CRYO_FX_RESULT=" + dir.resolve("result"), exe.toString());
        started.add(t.pid());
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("ready")));
        Path img = tmp.resolve("img");
        Checkpoint.dump(t.pid(), img, true);
        ImageDir d = ImageDir.open(img);
        List<file_entry> unix = d.files().stream().filter(f -> f.getType() == fd_types.UNIXSK).toList();
        assertEquals(4, unix.size(), "four ends, none external: " + unix);
        Set<Integer> inodes = new HashSet<>();
        unix.forEach(f -> inodes.add(f.getUsk().getIno()));
        for (file_entry f : unix) {
            assertTrue(inodes.contains(f.getUsk().getPeer()), "each peer is an end in the tree: " + f);
        }
        assertEquals(4, d.read("sk-queues.img").entries().size(), "ping, pong and two datagrams, each once");
        critReads(img, "sk-queues.img", "SK_QUEUES");
        assertEquals("PASS", verdict("socketpairs", t), "every message arrives once after -R");
    }

    /** crit (CRIU's image tool, Debian's) decodes {@code file} and finds {@code expect} in it; skipped if absent. */
    private static void critReads(Path dir, String file, String expect) throws Exception {
        Path crit = Path.of("/usr/bin/crit");
        if (!Files.isExecutable(crit)) {
            System.out.println("crit not installed: " + file + " not checked with CRIU's decoder");
            return;
        }
        Process p = new ProcessBuilder(crit.toString(), "decode", "-i", dir.resolve(file).toString(), "--pretty")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "crit decode " + file + ": " + out);
        assertTrue(out.contains(expect), "crit decode " + file + " shows " + expect + ": " + out);
    }
}
