package dev.cryo.engine.rpc;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.mnt_entry;
import dev.cryo.image.proto.pstree_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * runc 1.1.5 checkpoints and restores a counting container with Cryo as its CRIU ({@code runc --criu PATH}),
 * engine/docs/containers.md. With {@code --leave-running} the images are a container's (pid 1 inside, its mount
 * namespace with runc's external mounts) and the container counts on under the same host pid; {@code runc restore}
 * of them into a new container id from the same bundle brings the counter back as pid 1 of a new pid namespace,
 * counting on from where it was dumped, and runc adopts it (state, kill, delete). A checkpoint without
 * --leave-running ends the container, and its restore goes on from the last line it printed. A restore that fails
 * (an external mount without a host path; a fault after the mounts are made) leaves no task and no mount.
 * <p>{@code -Dcryo.test.criu=/work/shared/anchors/criu-4.2/criu} runs the same tests with CRIU (see {@link #criu}).
 */
class RuncCheckpointTest {
    private static final Path RUNC = Path.of("/usr/sbin/runc");

    @TempDir
    Path tmp;

    private final List<String> created = new ArrayList<>();
    private Process run;

    @BeforeEach
    void needRootAndRunc() throws Exception {
        Privileges.assumeRootWithPtrace();
        if (!Files.isExecutable(RUNC)) {
            System.out.println("SKIPPED: runc is not installed (.ci/provision installs it)");
        }
        assumeTrue(Files.isExecutable(RUNC), "runc is not installed (.ci/provision installs it)");
    }

    @AfterEach
    void deleteContainers() throws Exception {
        for (String id : created) {
            runc(List.of("delete", "-f", id));
        }
        if (run != null) {
            run.destroyForcibly();
        }
        restores.forEach(Process::destroyForcibly);
        if (client != null) {
            client.destroyForcibly();
        }
        if (netns != null) {
            new ProcessBuilder("ip", "netns", "del", netns).redirectErrorStream(true).start().waitFor(60, TimeUnit.SECONDS);
        }
    }

    private Process client;
    private String netns;

    /**
     * The CRIU runc is given: this build's Cryo, or with {@code -Dcryo.test.criu=PATH} (or {@code CRYO_TEST_CRIU})
     * another binary, CRIU 4.2 for one, to run the same tests side by side (what only Cryo writes is then not
     * looked at, and the test that drives Cryo's restore directly skips).
     */
    private Path criu() throws java.io.IOException {
        String given = System.getProperty("cryo.test.criu", System.getenv("CRYO_TEST_CRIU"));
        return isCryo() ? CryoAsCriu.write(tmp) : Path.of(given).toAbsolutePath();
    }

    private static boolean isCryo() {
        String given = System.getProperty("cryo.test.criu", System.getenv("CRYO_TEST_CRIU"));
        return given == null || given.isBlank();
    }

    /** A bundle whose rootfs holds only a static counter, run as the container's init with stdio on pipes. */
    private Path bundle() throws Exception {
        return bundle(CProgram.counter(100_000));
    }

    /** A bundle whose rootfs holds only {@code source} built static as /counter, the container's init. */
    private Path bundle(String source) throws Exception {
        Path bundle = tmp.resolve("bundle");
        Path rootfs = Files.createDirectories(bundle.resolve("rootfs"));
        for (String d : List.of("proc", "dev", "sys", "tmp")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        CProgram.compile(rootfs, "counter", source, "-static", "-pthread");
        Path config = bundle.resolve("config.json");
        String json = spec(bundle, "[\"/counter\"]");
        assertTrue(json.contains("\"/counter\"") && json.contains("\"terminal\": false"), "config.json edited");
        Files.writeString(config, json);
        return bundle;
    }

    /**
     * {@code runc spec} of the bundle, edited as the tests run it: no terminal, a writable root, {@code args} (a JSON
     * array) as the init's command line; returned, not written, for further edits.
     */
    private static String spec(Path bundle, String args) throws Exception {
        Process spec = new ProcessBuilder(RUNC.toString(), "spec", "--bundle", bundle.toString())
                .redirectErrorStream(true).start();
        assertTrue(spec.waitFor(60, TimeUnit.SECONDS) && spec.exitValue() == 0, "runc spec");
        return Files.readString(bundle.resolve("config.json"))
                .replace("\"terminal\": true", "\"terminal\": false")
                .replace("\"readonly\": true", "\"readonly\": false")
                .replaceFirst("\"args\": \\[\\s*\"sh\"\\s*\\]", java.util.regex.Matcher.quoteReplacement("\"args\": " + args));
    }

    private record Result(int exit, String output) {
    }

    /** The container's output so far, line by line (a last line still being written is left out). */
    private record Lines(Path file) {
        int size() {
            return get().size();
        }

        List<String> get() {
            try {
                String text = Files.exists(file) ? Files.readString(file) : "";
                int end = text.lastIndexOf('\n');
                return end < 0 ? List.of() : text.substring(0, end).lines().toList();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        @Override
        public String toString() {
            List<String> l = get();
            return l.subList(Math.max(0, l.size() - 20), l.size()).toString();
        }
    }

    private Result runc(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(RUNC.toString()));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(
                new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "runc " + args + " finished");
        return new Result(p.exitValue(), out);
    }

    private int initPid(String id) throws Exception {
        Result state = runc(List.of("state", id));
        assertEquals(0, state.exit(), state.output());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"pid\":\\s*(\\d+)").matcher(state.output());
        assertTrue(m.find(), state.output());
        return Integer.parseInt(m.group(1));
    }

    /** runc run -d ID from the bundle, its output (the count) in {@code out}. */
    private Lines runContainer(Path bundle, String id, Path out) throws Exception {
        created.add(id);
        // the container keeps runc's stdout, a pipe into cat, which writes the count to a file. (Not a pipe of
        // Java's Process: Java drains and closes it once runc exits, and the counter would die of SIGPIPE.)
        run = new ProcessBuilder("sh", "-c", "'" + RUNC + "' run -d --bundle '" + bundle + "' " + id
                + " </dev/null 2>&1 | cat > '" + out + "'").redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectErrorStream(true).start();
        Lines lines = new Lines(out);
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> lines.size() >= 3);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("the container did not count: runc run printed " + lines + "; runc list: "
                    + runc(List.of("list")).output(), e);
        }
        return lines;
    }

    /**
     * runc restore -d of {@code img} into container {@code id} from the bundle, its stdout (a pipe into cat) in
     * {@code out}; returns runc's exit status once it has returned (the pipe stays open while the counter runs).
     */
    private int restoreContainer(Path criu, Path bundle, Path img, String id, Path out) throws Exception {
        return restoreContainer(criu, bundle, img, id, out, "");
    }

    private int restoreContainer(Path criu, Path bundle, Path img, String id, Path out, String options)
            throws Exception {
        created.add(id);
        Path status = out.resolveSibling(out.getFileName() + ".status");
        // runc's exit status goes to a file: the pipe into cat stays open as long as the restored counter runs
        restores.add(new ProcessBuilder("sh", "-c", "{ '" + RUNC + "' --criu '" + criu + "' restore -d " + options + " --bundle '"
                + bundle + "' --image-path '" + img + "' " + id + "; echo $? > '" + status + "'; } </dev/null 2>&1 | cat > '"
                + out + "'").redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true).start());
        await().atMost(Duration.ofSeconds(180)).until(() -> Files.exists(status) && !Files.readString(status).isBlank());
        return Integer.parseInt(Files.readString(status).strip());
    }

    private final List<Process> restores = new ArrayList<>();

    private static void assertCountsFrom(int first, Lines lines, String what) {
        List<String> l = lines.get();
        assertTrue(!l.isEmpty(), what + ": no output");
        for (int i = 0; i < l.size(); i++) {
            assertEquals(Integer.toString(first + i), l.get(i), what + ", line " + i + ": " + lines);
        }
    }

    private static int hostPidIsOneInside(int host) throws Exception {
        assertTrue(Files.readString(Path.of("/proc/" + host + "/status")).contains("NSpid:\t" + host + "\t1"),
                "pid 1 of its own pid namespace");
        return host;
    }

    @Test
    void cryoCheckpointsAndRestoresARuncContainer() throws Exception {
        Path bundle = bundle();
        String id = "cryo-test-" + ProcessHandle.current().pid();
        Lines lines = runContainer(bundle, id, tmp.resolve("count.txt"));
        int host = hostPidIsOneInside(initPid(id));
        Path criu = criu();

        // --leave-running: a container's images, and it counts on
        Path img = Files.createDirectories(tmp.resolve("img"));
        int before = lines.size();
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--leave-running", "--image-path", img.toString(),
                id));
        int after = lines.size();
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
        assertTrue(!isCryo() || Files.readString(img.resolve("dump.log")).contains("through freezer cgroup "),
                "runc's freeze_cgroup: the container frozen through it first");
        ImageDir dir = ImageDir.open(img);
        List<pstree_entry> tree = dir.pstree();
        assertEquals(1, tree.get(0).getPid(), "pid 1, as inside the container");
        var ids = dir.ids(1);
        assertNotEquals(dir.inventory().getRootIds().getPidNsId(), ids.getPidNsId());
        List<mnt_entry> mounts = ImageFile.read(img.resolve("mountpoints-" + ids.getMntNsId() + ".img"))
                .entries(mnt_entry.class);
        assertTrue(mounts.stream().anyMatch(m -> m.getMountpoint().equals("/") && !m.hasExtKey()), "the root");
        assertTrue(mounts.stream().anyMatch(m -> m.getMountpoint().equals("/proc/keys")
                && m.getExtKey().equals("/dev/null")), "runc's masked /proc/keys, external as runc named it");
        assertTrue(Files.exists(img.resolve("utsns-" + ids.getUtsNsId() + ".img")));
        assertEquals(host, initPid(id), "the same container, still running");
        for (int i = 0; i < 3; i++) {
            int seen = lines.size();
            await().atMost(Duration.ofSeconds(60)).until(() -> lines.size() > seen);
        }
        assertCountsFrom(0, lines, "the count goes on, never back");

        // restore into a new container from the same bundle: pid 1 again, counting on from the dump
        String id2 = id + "-restored";
        Lines restored = new Lines(tmp.resolve("count2.txt"));
        assertEquals(0, restoreContainer(criu, bundle, img, id2, restored.file()), "runc restore: "
                + Files.readString(img.resolve("restore.log")));
        int host2 = hostPidIsOneInside(initPid(id2));
        assertNotEquals(host, host2);
        await().atMost(Duration.ofSeconds(60)).until(() -> restored.size() >= 3);
        int first = Integer.parseInt(restored.get().get(0));
        assertTrue(first >= before - 1 && first <= after + 1, "the restored count starts where the dump was taken ("
                + before + ".." + after + "): " + first);
        assertCountsFrom(first, restored, "the restored count goes on");
        String mountinfo = Files.readString(Path.of("/proc/" + host2 + "/mountinfo"));
        assertTrue(mountinfo.contains(" / /proc ") && mountinfo.contains(" /dev/pts ")
                && mountinfo.contains(" /proc/keys "), "its mounts rebuilt: " + mountinfo);
        // its host name, as uname answers inside its uts namespace (a /proc/sys read answers for the reader's)
        Process uname = new ProcessBuilder("nsenter", "--target", Integer.toString(host2), "--uts", "uname", "-n")
                .redirectErrorStream(true).start();
        String nodename = new String(uname.getInputStream().readAllBytes()).strip();
        assertTrue(uname.waitFor(60, TimeUnit.SECONDS));
        assertEquals("runc", nodename, "its host name");
        // runc adopted it: kill and delete work
        assertEquals(0, runc(List.of("kill", id2, "KILL")).exit());
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(Path.of("/proc/" + host2)));
        Result deleted = runc(List.of("delete", id2));
        assertEquals(0, deleted.exit(), deleted.output());
        assertNotEquals(0, runc(List.of("state", id2)).exit(), "deleted");

        // a checkpoint without --leave-running ends the container; its restore goes on from its last line
        Path img3 = Files.createDirectories(tmp.resolve("img3"));
        r = runc(List.of("--criu", criu.toString(), "checkpoint", "--image-path", img3.toString(), id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img3.resolve("dump.log")));
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(Path.of("/proc/" + host)));
        int last = Integer.parseInt(lines.get().get(lines.size() - 1));
        String id3 = id + "-again";
        Lines again = new Lines(tmp.resolve("count3.txt"));
        assertEquals(0, restoreContainer(criu, bundle, img3, id3, again.file()), "runc restore: "
                + Files.readString(img3.resolve("restore.log")));
        hostPidIsOneInside(initPid(id3));
        await().atMost(Duration.ofSeconds(60)).until(() -> again.size() >= 3);
        assertCountsFrom(last + 1, again, "the count goes on from the last line before the checkpoint");
    }

    /**
     * A container with a cgroup namespace of its own (config.json's "cgroup" namespace; runc then mounts its cgroup
     * hierarchies itself, rooted at its own cgroup, rather than naming host paths as external): checkpointed, and
     * restored into a new container whose init has a new cgroup namespace, its hierarchies rooted at the new
     * container's cgroup, counting on.
     */
    @Test
    void aContainerWithACgroupNamespaceOfItsOwnComesBackInANewOne() throws Exception {
        Path bundle = bundle();
        Path config = bundle.resolve("config.json");
        String json = Files.readString(config);
        String withCgroup = json.replaceFirst("\\{\\s*\"type\":\\s*\"mount\"\\s*\\}",
                "{\"type\": \"mount\"}, {\"type\": \"cgroup\"}");
        assertNotEquals(json, withCgroup, "config.json: a cgroup namespace added");
        Files.writeString(config, withCgroup);
        String id = "cryo-cgns-" + ProcessHandle.current().pid();
        Lines lines = runContainer(bundle, id, tmp.resolve("count.txt"));
        int host = hostPidIsOneInside(initPid(id));
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/cgroup")),
                Files.readSymbolicLink(Path.of("/proc/" + host + "/ns/cgroup")), "a cgroup namespace of its own");
        assertTrue(Files.readString(Path.of("/proc/" + host + "/mountinfo")).contains(" /" + id + " /sys/fs/cgroup/"),
                "runc mounted its hierarchies at its cgroup");
        Path criu = criu();
        Path img = Files.createDirectories(tmp.resolve("img"));
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--image-path", img.toString(), id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(Path.of("/proc/" + host)));
        int last = Integer.parseInt(lines.get().get(lines.size() - 1));
        String id2 = id + "-restored";
        Lines restored = new Lines(tmp.resolve("count2.txt"));
        assertEquals(0, restoreContainer(criu, bundle, img, id2, restored.file()), "runc restore: "
                + Files.readString(img.resolve("restore.log")));
        int host2 = hostPidIsOneInside(initPid(id2));
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/cgroup")),
                Files.readSymbolicLink(Path.of("/proc/" + host2 + "/ns/cgroup")), "a new cgroup namespace");
        String mountinfo = Files.readString(Path.of("/proc/" + host2 + "/mountinfo"));
        assertTrue(mountinfo.contains(" /" + id2 + " /sys/fs/cgroup/"), "its hierarchies rooted at its new cgroup: "
                + mountinfo);
        await().atMost(Duration.ofSeconds(60)).until(() -> restored.size() >= 3);
        assertCountsFrom(last + 1, restored, "the count goes on from the last line before the checkpoint");
    }

    /**
     * A tree in the container: the init forks two children, each with a second thread counting; every line names who
     * printed it. A pre-dump, then the final checkpoint on it (the container ends), then a restore: the same pids and
     * tids inside, and each counter goes on from its last line.
     */
    private static final String FAMILY = """
            #include <stdio.h>
            #include <unistd.h>
            #include <pthread.h>
            static volatile long ticks;
            static void *tick(void *a) { for (;;) { ticks++; usleep(50000); } return a; }
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                for (int k = 0; k < 2; k++) {
                    if (fork() == 0) {
                        pthread_t t;
                        pthread_create(&t, 0, tick, 0);
                        for (int i = 0;; i++) { printf("child%d %d %d\\n", k, getpid(), i); usleep(100000); }
                    }
                }
                for (int i = 0;; i++) { printf("init %d %d\\n", getpid(), i); usleep(100000); }
            }
            """;

    @Test
    void aTreeInAContainerIsPreDumpedCheckpointedAndRestored() throws Exception {
        Path bundle = bundle(FAMILY);
        String id = "cryo-family-" + ProcessHandle.current().pid();
        Lines lines = runContainer(bundle, id, tmp.resolve("family.txt"));
        await().atMost(Duration.ofSeconds(60)).until(() -> lines.get().stream().filter(l -> l.startsWith("child1"))
                .count() >= 2);
        int host = hostPidIsOneInside(initPid(id));
        Path criu = criu();
        Path pre = Files.createDirectories(tmp.resolve("pre"));
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--pre-dump", "--image-path", pre.toString(), id));
        if (!isCryo() && r.exit() != 0 && r.output().contains("missing features")) {
            // CRIU 4.2 here: no dirty-page tracker it knows (no soft-dirty), so runc refuses its pre-dump
            System.out.println("SKIPPED with " + criu + ": runc refuses its pre-dump: " + r.output().strip());
            assumeTrue(false, "runc refuses the pre-dump of " + criu + ": " + r.output().strip());
        }
        assertEquals(0, r.exit(), r.output() + (Files.exists(pre.resolve("dump.log"))
                ? Files.readString(pre.resolve("dump.log")) : ""));
        assertEquals(host, initPid(id), "a pre-dump leaves it running");
        Path img = Files.createDirectories(tmp.resolve("final"));
        r = runc(List.of("--criu", criu.toString(), "checkpoint", "--parent-path", "../pre", "--image-path",
                img.toString(), id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
        assertTrue(!isCryo() || Files.readString(img.resolve("dump.log")).contains("left to the parent"), "incremental");
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(Path.of("/proc/" + host)));
        java.util.Map<String, String> lastOf = new java.util.HashMap<>();
        for (String l : lines.get()) {
            String[] f = l.split(" ");
            lastOf.put(f[0] + " " + f[1], f[2]);
        }
        assertEquals(3, lastOf.size(), "three printers: " + lastOf);

        String id2 = id + "-restored";
        Lines restored = new Lines(tmp.resolve("family2.txt"));
        assertEquals(0, restoreContainer(criu, bundle, img, id2, restored.file()), "runc restore: "
                + Files.readString(img.resolve("restore.log")));
        int host2 = hostPidIsOneInside(initPid(id2));
        await().atMost(Duration.ofSeconds(60)).until(() -> restored.get().stream().map(l -> l.split(" ")[0])
                .distinct().count() == 3);
        java.util.Map<String, Integer> firstOf = new java.util.HashMap<>();
        for (String l : restored.get()) {
            String[] f = l.split(" ");
            firstOf.putIfAbsent(f[0] + " " + f[1], Integer.parseInt(f[2]));
        }
        assertEquals(lastOf.keySet(), firstOf.keySet(), "the same printers with the same pids inside");
        firstOf.forEach((who, first) -> assertEquals(Integer.parseInt(lastOf.get(who)) + 1, first,
                who + " goes on from its last line"));
        long threads = ProcessHandle.of(host2).orElseThrow().children().mapToLong(c -> {
            try (var tasks = Files.list(Path.of("/proc/" + c.pid() + "/task"))) {
                return tasks.count();
            } catch (java.io.IOException e) {
                return 0;
            }
        }).sum();
        assertEquals(4, threads, "each child with its second thread");
    }

    /**
     * A client that INCRs a counter once every 50 ms over one connection and prints "PORT VALUE" each time; it ends
     * with "EOF" or an error as soon as the connection breaks.
     */
    private static final String REDIS_CLIENT = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", 6379))
            f = s.makefile("rb")
            port = s.getsockname()[1]
            while True:
                s.sendall(b"INCR k\\r\\n")
                line = f.readline()
                if not line:
                    print("EOF", flush=True)
                    sys.exit(1)
                print(port, line.decode().strip()[1:], flush=True)
                time.sleep(0.05)
            """;

    /**
     * redis-server in a container whose network namespace runc is given by path (config.json), as Podman and
     * Kubernetes give theirs, and a client in that namespace, outside the container, connected to it: runc
     * checkpoint --tcp-established ends the container with the connection locked; runc restore --tcp-established
     * into a new container joins the same namespace (--external net[INO]:extRootNetNS, --inherit-fd) and brings
     * the connection back. The client never notices: the same connection (its port) and the count goes on, one
     * by one, from redis's memory.
     */
    @Test
    void aRedisContainerKeepsItsClientConnectedThroughCheckpointAndRestore() throws Exception {
        Path redis = Path.of("/usr/bin/redis-server");
        if (!Files.isExecutable(redis)) {
            System.out.println("SKIPPED: redis-server is not installed (.ci/provision installs it)");
        }
        assumeTrue(Files.isExecutable(redis), "redis-server is not installed (.ci/provision installs it)");
        netns = "cryo-redis-" + ProcessHandle.current().pid();
        for (List<String> cmd : List.of(List.of("ip", "netns", "add", netns),
                List.of("ip", "-n", netns, "link", "set", "lo", "up"))) {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, cmd + ": " + out);
        }
        Path bundle = tmp.resolve("bundle");
        Path rootfs = Files.createDirectories(bundle.resolve("rootfs"));
        for (String d : List.of("proc", "dev", "sys", "tmp", "usr", "etc", "run")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        for (String l : List.of("bin", "lib", "lib64", "sbin")) {
            Files.createSymbolicLink(rootfs.resolve(l), Path.of("usr", l));
        }
        Path config = bundle.resolve("config.json");
        String json = spec(bundle, "[\"/usr/bin/redis-server\", \"--port\", \"6379\", \"--bind\", \"127.0.0.1\", "
                + "\"--save\", \"\", \"--appendonly\", \"no\", \"--protected-mode\", \"no\"]")
                .replaceFirst("\\{\\s*\"type\":\\s*\"network\"\\s*}",
                        "{\"type\": \"network\", \"path\": \"/run/netns/" + netns + "\"}")
                .replaceFirst("\"mounts\":\\s*\\[", "\"mounts\": [{\"destination\": \"/usr\", \"type\": \"bind\", "
                        + "\"source\": \"/usr\", \"options\": [\"rbind\", \"ro\"]},");
        assertTrue(json.contains("/run/netns/" + netns) && json.contains("redis-server")
                && json.contains("\"destination\": \"/usr\""), "config.json edited: " + json);
        Files.writeString(config, json);
        String id = "cryo-redis-" + ProcessHandle.current().pid();
        Lines log = runContainer(bundle, id, tmp.resolve("redis.log"));
        await().atMost(Duration.ofSeconds(60)).until(() -> log.get().stream().anyMatch(l -> l.contains("Ready to accept")));
        int host = hostPidIsOneInside(initPid(id));

        Path script = Files.writeString(tmp.resolve("client.py"), REDIS_CLIENT);
        Lines answers = new Lines(tmp.resolve("client.txt"));
        client = new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-u", script.toString())
                .redirectOutput(answers.file().toFile()).redirectErrorStream(true).start();
        await().atMost(Duration.ofSeconds(60)).until(() -> answers.size() >= 5);

        Path criu = criu();
        Path img = Files.createDirectories(tmp.resolve("img"));
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--tcp-established", "--image-path",
                img.toString(), id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(Path.of("/proc/" + host)));
        assertTrue(Files.exists(img.resolve("netns-" + ImageDir.open(img).ids(1).getNetNsId() + ".img")),
                "the net namespace named as external");
        int atDump = answers.size();

        String id2 = id + "-restored";
        Lines log2 = new Lines(tmp.resolve("redis2.log"));
        assertEquals(0, restoreContainer(criu, bundle, img, id2, log2.file(), "--tcp-established"), "runc restore: "
                + Files.readString(img.resolve("restore.log")));
        int host2 = hostPidIsOneInside(initPid(id2));
        assertEquals(Files.readSymbolicLink(Path.of("/proc/" + client.pid() + "/ns/net")),
                Files.readSymbolicLink(Path.of("/proc/" + host2 + "/ns/net")),
                "the restored redis is in the namespace it was given, the client's");
        await().atMost(Duration.ofSeconds(90)).until(() -> answers.size() >= atDump + 10);
        assertTrue(client.isAlive(), "the client is still connected: " + answers);
        List<String> all = answers.get();
        String port = all.get(0).split(" ")[0];
        for (int i = 0; i < all.size(); i++) {
            assertEquals(port + " " + (i + 1), all.get(i), "one connection, every INCR answered once, line " + i
                    + ": " + answers);
        }
        String tables = new String(new ProcessBuilder("ip", "netns", "exec", netns, "nft", "list", "tables")
                .redirectErrorStream(true).start().getInputStream().readAllBytes());
        assertTrue(!tables.contains("cryo-lock"), "the lock is gone from the namespace: " + tables);
        String listening = new String(new ProcessBuilder("ss", "-Htln", "sport", "= :6379").redirectErrorStream(true)
                .start().getInputStream().readAllBytes());
        assertTrue(listening.isBlank(), "nothing of the container's listens in the host's namespace: " + listening);
    }

    /** The restore's failures leave nothing: no task, no mount of the host's, no held pid. */
    @Test
    void aFailedContainerRestoreLeavesNothing() throws Exception {
        assumeTrue(isCryo(), "drives Cryo's restore directly; not run with -Dcryo.test.criu");
        Path bundle = bundle();
        String id = "cryo-fail-" + ProcessHandle.current().pid();
        runContainer(bundle, id, tmp.resolve("count.txt"));
        Path criu = criu();
        Path img = Files.createDirectories(tmp.resolve("img"));
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--leave-running", "--image-path", img.toString(),
                id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
        assertTrue(!isCryo() || Files.readString(img.resolve("dump.log")).contains("through freezer cgroup "),
                "runc's freeze_cgroup: the container frozen through it first");
        ImageDir dir = ImageDir.open(img);
        // runc's keys are host paths themselves (the cgroup directories, /dev/null): each key stands for its path
        List<String> external = ImageFile.read(img.resolve("mountpoints-" + dir.ids(1).getMntNsId() + ".img"))
                .entries(mnt_entry.class).stream().filter(mnt_entry::hasExtKey)
                .map(m -> "mnt[" + m.getExtKey() + "]:" + m.getExtKey()).distinct().collect(Collectors.toList());
        assertTrue(!external.isEmpty(), "runc names external mounts");
        Path root = bundle.resolve("rootfs");
        java.util.Set<Long> counters = counters();

        // an external mount without a host path: refused before anything is made, naming the key
        List<String> partial = new ArrayList<>(external);
        String dropped = partial.remove(0);
        var e = assertThrows(dev.cryo.engine.CryoException.class, () -> restore(img, root, partial));
        assertTrue(e.getMessage().contains("key " + dropped.substring(4, dropped.indexOf(']')))
                && e.getMessage().contains("--external"), e.getMessage());
        assertNothingLeft(root, counters);

        // a fault after the namespaces and mounts are made: the task is killed, its namespace goes with it
        System.setProperty("cryo.fault.step", "build");
        try {
            e = assertThrows(dev.cryo.engine.CryoException.class, () -> restore(img, root, external));
            assertTrue(e.getMessage().contains("fault injected"), e.getMessage());
        } finally {
            System.clearProperty("cryo.fault.step");
        }
        assertNothingLeft(root, counters);
    }

    private static void restore(Path img, Path root, List<String> external) throws Exception {
        var d = dev.cryo.engine.resource.FileOptions.DEFAULTS;
        var files = new dev.cryo.engine.resource.FileOptions(d.fileLocks(), d.linkRemap(), d.ghostLimit(),
                d.ghostFiemap(), d.inheritFds(), external, d.evasiveDevices(), d.fileValidation(), d.skipFileRwxCheck(),
                d.forceIrmap(), d.irmapScanPaths());
        var options = new dev.cryo.engine.restore.RestoreOptions(img, true, false, false, null, null, files, false,
                "nftables", List.of()).withContainer(root, 0x40000000 /* CLONE_NEWNET */);
        dev.cryo.engine.restore.Restorer.restoreTree(options, dev.cryo.engine.log.Log.discard(),
                dev.cryo.engine.ActionScripts.NONE);
    }

    /**
     * Processes named counter on this machine (the container's, and any a failed restore would leave), by pid: one
     * of an earlier test that ends meanwhile is no task left by this one.
     */
    private static java.util.Set<Long> counters() {
        return ProcessHandle.allProcesses().filter(p -> p.info().command().map(c -> c.endsWith("/counter"))
                .orElse(false) || comm(p.pid()).equals("counter") || comm(p.pid()).equals("cryo-helper"))
                .map(ProcessHandle::pid).collect(Collectors.toSet());
    }

    private static String comm(long pid) {
        try {
            return Files.readString(Path.of("/proc/" + pid + "/comm")).strip();
        } catch (java.io.IOException e) {
            return "";
        }
    }

    private static void assertNothingLeft(Path root, java.util.Set<Long> counters) throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> counters.containsAll(counters()));
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertTrue(!mounts.contains(root.toString()), "no mount of the restore reached the host's: " + mounts);
        assertEquals(0, ProcessHandle.current().children().filter(p -> comm(p.pid()).equals("counter")
                || comm(p.pid()).equals("cryo-helper")).count(), "no task or helper of the restore left");
    }
}
