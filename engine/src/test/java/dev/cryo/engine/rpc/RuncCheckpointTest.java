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

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * runc 1.1.5 checkpoints a counting container with Cryo as its CRIU ({@code runc --criu PATH}): what Cryo does with
 * a container today (engine/docs/containers.md). With {@code --leave-running} the images are a container's (pid 1
 * inside, its mount namespace with runc's external mounts) and the container counts on under the same host pid;
 * a checkpoint that would end it is refused and it runs on; a restore is refused with CRIU's error reply and leaves
 * no container.
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
    }

    /** A bundle whose rootfs holds only a static counter, run as the container's init with stdio on pipes. */
    private Path bundle() throws Exception {
        Path bundle = tmp.resolve("bundle");
        Path rootfs = Files.createDirectories(bundle.resolve("rootfs"));
        for (String d : List.of("proc", "dev", "sys", "tmp")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        CProgram.compile(rootfs, "counter", CProgram.counter(100_000), "-static");
        Process spec = new ProcessBuilder(RUNC.toString(), "spec", "--bundle", bundle.toString())
                .redirectErrorStream(true).start();
        assertTrue(spec.waitFor(60, TimeUnit.SECONDS) && spec.exitValue() == 0, "runc spec");
        Path config = bundle.resolve("config.json");
        String json = Files.readString(config)
                .replace("\"terminal\": true", "\"terminal\": false")
                .replace("\"readonly\": true", "\"readonly\": false")
                .replaceFirst("\"args\": \\[\\s*\"sh\"\\s*\\]", "\"args\": [\"/counter\"]");
        assertTrue(json.contains("\"/counter\"") && json.contains("\"terminal\": false"), "config.json edited");
        Files.writeString(config, json);
        return bundle;
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

    @Test
    void cryoCheckpointsARuncContainerThatRunsOn() throws Exception {
        Path bundle = bundle();
        String id = "cryo-test-" + ProcessHandle.current().pid();
        created.add(id);
        // runc run -d: the container keeps runc's stdout, a pipe into cat, which writes the count to a file. (Not a
        // pipe of Java's Process: Java drains and closes it once runc exits, and the counter would die of SIGPIPE.)
        Path out = tmp.resolve("count.txt");
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
        int host = initPid(id);
        assertTrue(Files.readString(Path.of("/proc/" + host + "/status")).contains("NSpid:\t" + host + "\t1"),
                "the counter is pid 1 of the container");
        Path criu = CryoAsCriu.write(tmp);

        // a checkpoint that would end the container: refused, and the container counts on
        Path refused = Files.createDirectories(tmp.resolve("refused"));
        Result r = runc(List.of("--criu", criu.toString(), "checkpoint", "--image-path", refused.toString(), id));
        assertNotEquals(0, r.exit(), r.output());
        assertTrue(Files.readString(refused.resolve("dump.log")).contains("--leave-running"),
                Files.readString(refused.resolve("dump.log")));
        assertEquals(host, initPid(id), "the same container");
        int seen = lines.size();
        await().atMost(Duration.ofSeconds(60)).until(() -> lines.size() >= seen + 3);

        // --leave-running: a container's images, and it counts on
        Path img = Files.createDirectories(tmp.resolve("img"));
        r = runc(List.of("--criu", criu.toString(), "checkpoint", "--leave-running", "--image-path", img.toString(),
                id));
        assertEquals(0, r.exit(), r.output() + Files.readString(img.resolve("dump.log")));
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
            int before = lines.size();
            await().atMost(Duration.ofSeconds(60)).until(() -> lines.size() > before);
        }
        List<String> copy = lines.get();
        for (int i = 0; i < copy.size(); i++) {
            assertEquals(Integer.toString(i), copy.get(i), "line " + i + ": the count goes on, never back");
        }

        // a restore: refused with CRIU's error reply, no container left
        String id2 = id + "-restored";
        created.add(id2);
        r = runc(List.of("--criu", criu.toString(), "restore", "-d", "--bundle", bundle.toString(), "--image-path",
                img.toString(), id2));
        assertNotEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("RESTORE"), r.output());
        assertNotEquals(0, runc(List.of("state", id2)).exit(), "no restored container is left");
    }
}
