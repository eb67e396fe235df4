package dev.cryo.engine;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Failures say what went wrong and leave nothing behind: the target runs on, no half-built process remains. */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class FailureTest {
    @TempDir
    Path tmp;

    private String dumpError(int pid) {
        return assertThrows(CryoException.class, () -> Checkpoint.dump(pid, tmp.resolve("img"), false)).getMessage();
    }

    /** An images directory on a read-only filesystem: refused naming the file and the reason, the process runs on. */
    @Test
    void imagesDirectoryOnAReadOnlyFilesystemIsRefusedWithTheReason() throws Exception {
        Path ro = java.nio.file.Files.createDirectories(tmp.resolve("ro"));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro.toString())
                .redirectErrorStream(true).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mount.waitFor() == 0, "cannot mount a read-only tmpfs: "
                + new String(mount.getInputStream().readAllBytes()));
        try (Target t = startCounterWith("")) {
            String m = assertThrows(CryoException.class, () -> dev.cryo.engine.dump.Dumper.dump(
                    Checkpoint.dumpOptions(t.pid(), ro, false), dev.cryo.engine.log.Log.discard())).getMessage();
            assertTrue(m.contains("cannot write images in " + ro) && m.contains("Read-only file system"), m);
            keepsCounting(t);
        } finally {
            new ProcessBuilder("umount", ro.toString()).start().waitFor();
        }
    }

    @Test
    void missingPidIsNamed() {
        String m = dumpError(0x3ffff0);
        assertTrue(m.contains("pid " + 0x3ffff0) && m.contains("no such process"), m);
    }

    /** The shell that runs cryo (dump -t $$): CRIU's "The criu itself is within dumped tree". */
    @Test
    void anAncestorOfCryoIsRefusedNamingCryo() {
        int parent = (int) ProcessHandle.current().parent().orElseThrow().pid();
        String m = dumpError(parent);
        assertTrue(m.startsWith("cannot dump pid " + parent + ": Cryo itself (pid " + ProcessHandle.current().pid()
                + ") is in its tree"), m);
        assertTrue(ProcessHandle.of(parent).orElseThrow().isAlive(), "its parent runs on");
    }

    @Test
    void kernelThreadIsRefused() {
        String m = dumpError(2);
        assertTrue(m.contains("pid 2") && m.contains("kernel thread"), m);
    }

    @Test
    void cryoItselfIsRefused() {
        int self = (int) ProcessHandle.current().pid();
        String m = dumpError(self);
        assertTrue(m.contains("Cryo itself"), m);
    }

    private Target startCounterWith(String setup) throws Exception {
        String src = "#include <stdio.h>\n#include <unistd.h>\n#include <pthread.h>\n#include <sys/socket.h>\n"
                + "#include <sys/eventfd.h>\n#include <sys/syscall.h>\n"
                + "static void *idle(void *a) { for (;;) pause(); }\n"
                + "static void *brief(void *a) { return a; }\n"
                + "static void *spawner(void *a) { for (;;) { pthread_t b; if (pthread_create(&b, NULL, brief, NULL) == 0) "
                + "pthread_detach(b); } }\n"
                + "int main(void) { setvbuf(stdout, NULL, _IONBF, 0); " + setup
                + " for (int i = 0;; i++) { printf(\"%d\\n\", i); usleep(5000); } }\n";
        Path exe = CProgram.compile(tmp, "p", src, "-pthread");
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        t.awaitLines(2);
        return t;
    }

    private static void keepsCounting(Target t) throws Exception {
        assertTrue(t.alive(), "pid " + t.pid() + " still runs");
        t.awaitLines(t.lines().size() + 3);
        assertCounts(t.lines());
    }

    /**
     * {@code dump -t TID} of a thread that is not its process's leader: /proc/TID reads like a process, and it was
     * dumped as one, then the dump's kill took the whole process and waited a minute for the wrong thread group.
     */
    @Test
    void aThreadIdIsRefusedNamingItsProcess() throws Exception {
        try (Target t = startCounterWith("pthread_t th; pthread_create(&th, NULL, idle, NULL);")) {
            await().atMost(Duration.ofSeconds(10)).until(() -> tasks(t.pid()).size() == 2);
            int tid = tasks(t.pid()).stream().mapToInt(Integer::parseInt).filter(x -> x != t.pid()).findFirst()
                    .orElseThrow();
            String m = dumpError(tid);
            assertTrue(m.startsWith("cannot dump pid " + tid + ": it is a thread of process " + t.pid())
                    && m.contains("dump -t " + t.pid()), m);
            keepsCounting(t);
        }
    }

    /**
     * A process whose main thread called pthread_exit runs on in its other threads, its leader a zombie: refused
     * saying so, where it was called a zombie, "exited, not yet reaped".
     */
    @Test
    void aProcessWhoseMainThreadExitedIsRefusedSayingItRunsOn() throws Exception {
        String src = "#include <stdio.h>\n#include <unistd.h>\n#include <pthread.h>\n"
                + "static void *count(void *a) { for (int i = 0;; i++) { printf(\"%d\\n\", i); usleep(5000); } }\n"
                + "int main(void) { setvbuf(stdout, NULL, _IONBF, 0); pthread_t t; pthread_create(&t, NULL, count, "
                + "NULL); pthread_exit(NULL); }\n";
        try (Target t = Target.start(CProgram.compile(tmp, "leaderless", src, "-pthread"), tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            String m = dumpError(t.pid());
            assertTrue(m.startsWith("cannot dump pid " + t.pid() + ": its main thread has exited while 1 other"), m);
            int lines = t.lines().size();
            t.awaitLines(lines + 3); // its thread counts on
        }
    }

    @Test
    void socketIsRefusedBeforeTheProcessIsTouched() throws Exception {
        try (Target t = startCounterWith("socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);")) { // vsock: not yet
            String m = dumpError(t.pid());
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3 is a socket") && m.contains("protocol AF_VSOCK"),
                    m);
            keepsCounting(t);
        }
    }

    @Test
    void aUserNamespaceOfItsOwnIsRefusedBeforeTheProcessIsTouched() throws Exception {
        try (Target t = startCounterWith("syscall(SYS_unshare, 0x10000000);")) { // CLONE_NEWUSER
            String m = dumpError(t.pid());
            assertTrue(m.contains("pid " + t.pid()) && m.contains("user namespace of its own"), m);
            keepsCounting(t);
        }
    }

    /**
     * The process enters a mount namespace of its own, mounts a tmpfs on {@code m}, opens m/file (fd 3) and covers
     * the tmpfs with another: the path then leads nowhere, or, with a file of that name in the cover, to another
     * file on another mount. The restore, which opens files by their path, would open nothing or the wrong file.
     */
    @ParameterizedTest(name = "a file of that name in the cover {0}")
    @ValueSource(booleans = {false, true})
    void aFileWhoseMountWasCoveredIsRefusedBeforeTheProcessIsTouched(boolean sameName) throws Exception {
        Path m = Files.createDirectories(tmp.resolve("m"));
        String file = m.resolve("file").toString();
        String setup = "if (syscall(SYS_unshare, 0x20000) || syscall(SYS_mount, 0, \"/\", 0, 0x4000 | 0x40000, 0)"
                + " || syscall(SYS_mount, \"tmpfs\", \"" + m + "\", \"tmpfs\", 0, 0)) return 3;"
                + " if (syscall(SYS_openat, -100, \"" + file + "\", 0102, 0600) != 3) return 4;"
                + " if (syscall(SYS_mount, \"tmpfs\", \"" + m + "\", \"tmpfs\", 0, 0)) return 5;"
                + (sameName ? " if (syscall(SYS_openat, -100, \"" + file + "\", 0102, 0600) != 4) return 6;"
                        + " close(4);" : "");
        try (Target t = startCounterWith(setup)) {
            String m2 = dumpError(t.pid());
            assertTrue(m2.contains("pid " + t.pid()) && m2.contains("fd 3 (" + file + ")")
                    && m2.contains(sameName ? "leads to another mount" : "nothing is at"), m2);
            keepsCounting(t);
        }
    }

    /**
     * An fd opened before the process entered a mount namespace of its own is on a mount of the namespace it left;
     * its path in the new namespace reaches the same file through that mount's copy, so the dump takes it.
     */
    @Test
    void anFdOpenedBeforeAMountNamespaceOfItsOwnIsDumped() throws Exception {
        String file = Files.writeString(tmp.resolve("before"), "x").toString();
        String setup = "if (syscall(SYS_openat, -100, \"" + file + "\", 02) != 3"
                + " || syscall(SYS_openat, -100, \"/dev/null\", 02) != 4 || syscall(SYS_unshare, 0x20000)) return 3;";
        try (Target t = startCounterWith(setup)) {
            Checkpoint.dump(t.pid(), Files.createDirectories(tmp.resolve("img")), true);
            keepsCounting(t);
        }
    }

    /**
     * A process in a mount namespace of its own (not a container's, whose mounts Cryo keeps) holds a file on a tmpfs
     * only its namespace has: the restore, in Cryo's namespace, would not find it (it did not, and the target was
     * gone). Refused before the process is touched, the way out named. Its working directory there, the same.
     */
    @ParameterizedTest(name = "held as {0}")
    @ValueSource(strings = {"fd", "cwd"})
    void aFileOnAMountOnlyItsOwnNamespaceHasIsRefused(String how) throws Exception {
        Path m = Files.createDirectories(tmp.resolve("own"));
        String setup = "if (syscall(SYS_unshare, 0x20000) || syscall(SYS_mount, 0, \"/\", 0, 0x4000 | 0x40000, 0)"
                + " || syscall(SYS_mount, \"tmpfs\", \"" + m + "\", \"tmpfs\", 0, 0)) return 3;"
                + (how.equals("fd") ? " if (syscall(SYS_openat, -100, \"" + m + "/file\", 0102, 0600) != 3) return 4;"
                        : " if (chdir(\"" + m + "\")) return 4;");
        try (Target t = startCounterWith(setup)) {
            String msg = dumpError(t.pid());
            assertTrue(msg.contains("pid " + t.pid()) && msg.contains(how.equals("fd") ? "fd 3 (" + m + "/file)"
                    : "its working directory (" + m + ")") && msg.contains("own mount namespace")
                    && msg.contains("nsenter --mount --target " + t.pid()), msg);
            keepsCounting(t);
        }
    }

    @ParameterizedTest(name = "unlinked {0}")
    @ValueSource(booleans = {false, true})
    void aPosixMessageQueueIsRefusedBeforeTheProcessIsTouched(boolean unlinked) throws Exception {
        String name = "cryo-failure-test-" + ProcessHandle.current().pid();
        // mq_open(2) and mq_unlink(2) (SYS 240, 241): the queue's name reads as a path, "/NAME" or "/NAME (deleted)"
        String open = "int q = syscall(240, \"" + name + "\", 0102, 0600, 0); (void) q;"
                + (unlinked ? " syscall(241, \"" + name + "\");" : "");
        try (Target t = startCounterWith(open)) {
            String m = dumpError(t.pid());
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3") && m.contains("POSIX message queue"), m);
            keepsCounting(t);
        } finally {
            dev.cryo.engine.sys.NativeBuffer n = dev.cryo.engine.sys.NativeBuffer.allocate(name.length() + 1);
            n.put(0, (name + "\0").getBytes());
            Syscall.raw(241, n.address()); // mq_unlink, when the fixture left it
        }
    }

    @Test
    void userfaultfdIsRefusedWithItsName() throws Exception {
        try (Target t = startCounterWith("syscall(SYS_userfaultfd, 0);")) {
            String m = dumpError(t.pid());
            assertTrue(m.contains("fd 3") && m.contains("userfaultfd"), m);
            keepsCounting(t);
        }
    }

    /**
     * memfd_secret memory is kept from every other process, the kernel's own reads included: no dump can copy it.
     * Refused by name, held by an fd or only mapped, rather than taken for a deleted file "/secretmem".
     */
    @Test
    void memfdSecretIsRefusedWithItsName() throws Exception {
        long probe = Syscall.raw(447, 0); // memfd_secret(0): off in some kernels' configurations
        if (probe < 0) {
            System.out.println("SKIPPED: memfd_secret is not available here (" + -probe + ")");
        }
        assumeTrue(probe >= 0, "memfd_secret is not available here");
        Syscall.raw(Syscall.CLOSE, probe);
        String secret = "int s = syscall(447, 0); if (s != 3 || ftruncate(s, 4096)) return 3;"
                + " if (syscall(SYS_mmap, 0, 4096, 3, 1, s, 0) < 0) return 4;";
        for (boolean closed : new boolean[]{false, true}) {
            try (Target t = startCounterWith(secret + (closed ? " close(s);" : ""))) {
                String m = dumpError(t.pid());
                assertTrue(m.contains("pid " + t.pid()) && m.contains("memfd_secret")
                        && m.contains(closed ? "the mapping at" : "fd 3") && !m.contains("--link-remap"), m);
                keepsCounting(t);
            }
        }
    }

    /**
     * A tun fd attached to an interface (TUNSETIFF) would come back from its path attached to none: refused, naming
     * the interface. One not attached yet is nothing but an open /dev/net/tun, and is dumped. In a network
     * namespace of the process's own, so that no interface of the host's is made: Cryo dumps from inside it.
     */
    @Test
    void anAttachedTunFdIsRefusedNamingItsInterface() throws Exception {
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            System.out.println("SKIPPED: no /dev/net/tun here");
        }
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "no /dev/net/tun here");
        String open = "if (syscall(SYS_unshare, 0x40000000)) return 3;"
                + " int f = syscall(SYS_openat, -100, \"/dev/net/tun\", 2); if (f != 3) return 4;";
        String attach = " char r[40] = \"cryotest0\"; *(short *) (r + 16) = 0x1001;" // IFF_TUN | IFF_NO_PI
                + " if (syscall(SYS_ioctl, f, 0x400454caL, r)) return 5;"; // TUNSETIFF
        try (Target t = startCounterWith(open + attach)) {
            String m = assertThrows(CryoException.class, () -> dev.cryo.engine.net.NetNamespace.call(
                    dev.cryo.engine.net.NetNamespace.of(t.pid()), () -> {
                        Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                        return null;
                    })).getMessage();
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3 (/dev/net/tun)")
                    && m.contains("tun/tap interface cryotest0"), m);
            keepsCounting(t);
        }
        try (Target t = startCounterWith(open)) {
            Path unattached = Files.createDirectories(tmp.resolve("unattached"));
            dev.cryo.engine.net.NetNamespace.call(dev.cryo.engine.net.NetNamespace.of(t.pid()), () -> {
                Checkpoint.dump(t.pid(), unattached, true);
                return null;
            });
            keepsCounting(t);
        }
    }

    /**
     * io_uring (CRIU cannot checkpoint it either) and a fanotify mark on a whole filesystem: refused by name, the
     * process untouched.
     */
    @Test
    void ioUringAndAFanotifyFilesystemMarkAreRefusedWithTheirNames() throws Exception {
        // io_uring_setup(1, params); fanotify_init(FAN_CLASS_NOTIF, O_RDONLY) and fanotify_mark(FAN_MARK_ADD |
        // FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD, "/tmp"): raw syscalls, no liburing
        try (Target t = startCounterWith("static long params[16]; syscall(425, 1, params);")) {
            String m = dumpError(t.pid());
            assertTrue(m.contains("fd 3") && m.contains("io_uring"), m);
            keepsCounting(t);
        }
        try (Target t = startCounterWith("int f = syscall(300, 0, 0); syscall(301, f, 0x101, 8L, -100, \"/tmp\");")) {
            String m = dumpError(t.pid());
            assertTrue(m.contains("fd 3") && m.contains("fanotify") && m.contains("whole filesystem"), m);
            keepsCounting(t);
        }
    }

    @Test
    void threadedDumpFailingWhileFrozenLetsEveryThreadRunOn() throws Exception {
        try (Target t = startCounterWith("pthread_t th[3]; for (int k = 0; k < 3; k++) pthread_create(&th[k], NULL, idle, NULL);")) {
            java.util.List<String> tasks = tasks(t.pid());
            assertEquals(4, tasks.size(), "threads: " + tasks);
            for (String step : new String[]{"collect", "write images", "kill"}) {
                System.setProperty("cryo.fault.step", step);
                String m = dumpError(t.pid());
                assertTrue(m.contains("fault injected at step '" + step + "'"), m);
                keepsCounting(t);
                assertEquals(tasks, tasks(t.pid()), "the same threads run on");
                for (String tid : tasks) {
                    String status = Files.readString(Path.of("/proc/" + t.pid() + "/task/" + tid + "/status"));
                    assertFalse(status.contains("TracerPid:\t" + ProcessHandle.current().pid()), "thread " + tid + " is let go");
                }
            }
        }
    }

    @Test
    void threadsBornAndEndingDuringTheFreezeAreHandled() throws Exception {
        // a spawner thread starts short-lived threads without pause: some are born, some end while the dump freezes
        try (Target t = startCounterWith("pthread_t sp; pthread_create(&sp, NULL, spawner, NULL);")) {
            for (int round = 0; round < 3; round++) {
                Path img = tmp.resolve("img" + round);
                try {
                    Checkpoint.dump(t.pid(), img, true);
                    var threads = dev.cryo.image.ImageDir.open(img).pstree().get(0).getThreadsList();
                    for (int tid : threads) {
                        assertTrue(Files.exists(img.resolve("core-" + tid + ".img")), "core of every listed thread " + tid);
                    }
                } catch (CryoException e) {
                    assertTrue(e.getMessage().contains("pid " + t.pid()) && e.getMessage().contains("thread"), e.getMessage());
                }
                keepsCounting(t);
                String status = Files.readString(Path.of("/proc/" + t.pid() + "/status"));
                assertTrue(status.contains("TracerPid:\t0"), "let go: " + status);
            }
        }
    }

    private static java.util.List<String> tasks(int pid) throws Exception {
        try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aChildIsDumpedWithItsParentAndBothRunOnWithLeaveRunning() throws Exception {
        try (Target t = startCounterWith("if (fork() == 0) { for (;;) pause(); }")) {
            int child = org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> ProcessHandle.of(t.pid())
                    .map(p -> p.children().mapToInt(c -> (int) c.pid()).findFirst().orElse(0)).orElse(0), c -> c > 0);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, true);
            var pstree = dev.cryo.image.ImageDir.open(img).pstree();
            assertEquals(2, pstree.size(), pstree.toString());
            assertEquals(t.pid(), pstree.get(0).getPid());
            assertEquals(0, pstree.get(0).getPpid(), "the root's parent is outside the tree");
            assertEquals(child, pstree.get(1).getPid());
            assertEquals(t.pid(), pstree.get(1).getPpid());
            keepsCounting(t);
            assertTrue(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false), "the child runs on");
            ProcessHandle.of(t.pid()).ifPresent(p -> p.children().forEach(ProcessHandle::destroyForcibly));
        }
    }

    @Test
    void dumpFailingAfterFreezeLeavesTheTargetRunning() throws Exception {
        try (Target t = startCounterWith("")) {
            for (String step : new String[]{"collect", "write images", "kill"}) {
                System.setProperty("cryo.fault.step", step);
                String m = dumpError(t.pid());
                assertTrue(m.contains("fault injected at step '" + step + "'"), m);
                keepsCounting(t);
            }
        }
    }

    @Test
    void aDumpFailingWhileFrozenLogsItsStepsAndErrorOnceTheTargetRuns() throws Exception {
        try (Target t = startCounterWith("")) {
            System.setProperty("cryo.fault.step", "write images");
            Path log = tmp.resolve("dump.log");
            Path img = tmp.resolve("img");
            Files.createDirectories(img);
            var options = Checkpoint.dumpOptions(t.pid(), img, false);
            try (var l = dev.cryo.engine.log.Log.toFile(log, dev.cryo.engine.log.Log.DEBUG)) {
                assertThrows(CryoException.class, () -> dev.cryo.engine.dump.Dumper.dump(options, l));
            }
            java.util.List<String> lines = Files.readAllLines(log);
            int frozen = indexOf(lines, "Frozen pid " + t.pid());
            int collect = indexOf(lines, "step collect");
            int error = indexOf(lines, "Error: cannot dump pid " + t.pid() + ": fault injected at step 'write images'");
            assertTrue(frozen >= 0 && frozen < collect && collect < error, "in order: " + lines);
            keepsCounting(t);
        }
    }

    private static int indexOf(java.util.List<String> lines, String text) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(text)) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void missingImagesDirIsNamed() {
        Path none = tmp.resolve("nowhere");
        String m = assertThrows(CryoException.class, () -> Checkpoint.restore(none)).getMessage();
        assertTrue(m.contains(none.toString()) && m.contains("no such images directory"), m);
    }

    @Test
    void damagedImageIsNamedAndNothingIsStarted() throws Exception {
        int pid;
        try (Target t = startCounterWith("")) {
            pid = t.pid();
            Checkpoint.dump(pid, tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Path core = tmp.resolve("img").resolve("core-" + pid + ".img");
            byte[] b = Files.readAllBytes(core);
            Files.write(core, java.util.Arrays.copyOf(b, b.length / 2));
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("img"))).getMessage();
            assertTrue(m.contains("core-" + pid + ".img"), m);
            assertFalse(t.alive(), "no process runs with pid " + pid);
        }
    }

    @Test
    void missingPagesAreNamed() throws Exception {
        try (Target t = startCounterWith("")) {
            Checkpoint.dump(t.pid(), tmp.resolve("img"), true);
            Files.delete(tmp.resolve("img").resolve("pages-1.img"));
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("img"))).getMessage();
            assertTrue(m.contains("pages-1.img"), m);
            keepsCounting(t);
        }
    }
}
