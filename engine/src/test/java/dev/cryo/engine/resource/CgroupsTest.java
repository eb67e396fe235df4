package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.cgroup_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A task's cgroups (cgroup.img, core's cg_set) and --manage-cgroups: a counter put into a cgroup of the pids hierarchy
 * of its own is dumped; the cgroup is removed; the restore makes it again and puts the counter back in it, before it
 * runs; "ignore" leaves it in Cryo's; --cgroup-root moves it; a failed restore removes the cgroups it made.
 */
@RootWithPtrace
class CgroupsTest {
    private static final Path PIDS = Path.of("/sys/fs/cgroup/pids");

    @TempDir
    Path tmp;

    private final String name = "cryo-cgroups-test-" + ProcessHandle.current().pid();
    private Target target;

    @BeforeEach
    void pidsHierarchy() {
        boolean there = Files.isDirectory(PIDS) && Files.exists(PIDS.resolve("cgroup.procs"));
        if (!there) {
            System.out.println("SKIPPED: no cgroup v1 pids hierarchy at " + PIDS);
        }
        assumeTrue(there, "no cgroup v1 pids hierarchy at " + PIDS);
    }

    @AfterEach
    void removeCgroups() throws Exception {
        if (target != null) {
            target.close();
        }
        for (String dir : List.of(name + "/inner", name, name + "-new")) {
            Path p = PIDS.resolve(dir);
            await().atMost(Duration.ofSeconds(20)).until(() -> {
                try {
                    Files.deleteIfExists(p);
                    return true;
                } catch (java.io.IOException busy) {
                    return false; // its task not reaped yet
                }
            });
        }
    }

    /** A counter in pids:/NAME/inner, dumped (killed) once it counts, and its cgroups removed. */
    private Path dumpedFromItsCgroup() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path cg = Files.createDirectories(PIDS.resolve(name).resolve("inner"));
        target = Target.start(exe, tmp.resolve("out.txt"));
        Files.writeString(cg.resolve("cgroup.procs"), Integer.toString(target.pid()));
        assertEquals("/" + name + "/inner", pidsCgroup(target.pid()));
        Path img = Checkpoint.dumpUntilGone(target, 3, tmp.resolve("img"));
        cgroup_entry e = ImageDir.open(img).read(Cgroups.IMAGE).entries(cgroup_entry.class).get(0);
        assertTrue(e.getSetsList().stream().anyMatch(s -> s.getCtlsList().stream()
                .anyMatch(m -> m.getName().equals("pids") && m.getPath().equals("/" + name + "/inner"))), e.toString());
        // CRIU's restore refuses a controller entry without a name; the cgroup v2 hierarchy is named "", as CRIU does
        assertTrue(e.getControllersList().stream().allMatch(c -> c.getCnamesCount() > 0), e.toString());
        boolean v2 = e.getSetsList().stream().anyMatch(s -> s.getCtlsList().stream().anyMatch(m -> m.getName().isEmpty()));
        assertEquals(v2, e.getControllersList().stream().anyMatch(c -> c.getCnamesList().equals(List.of(""))),
                e.toString());
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            try {
                Files.delete(cg);
                Files.delete(cg.getParent());
                return true;
            } catch (java.io.IOException busy) {
                return false;
            }
        });
        return img;
    }

    private static String pidsCgroup(int pid) throws Exception {
        return Files.readAllLines(Path.of("/proc/" + pid + "/cgroup")).stream().filter(l -> l.contains(":pids:"))
                .map(l -> l.substring(l.indexOf(":pids:") + 6)).findFirst().orElseThrow();
    }

    private RestoreOptions options(Path img, String mode, List<String> roots) {
        return Checkpoint.restoreOptions(img).withCgroups(new Cgroups.Options(mode, roots));
    }

    @Test
    void aRestoredTaskIsBackInItsCgroupMadeAgain() throws Exception {
        Path img = dumpedFromItsCgroup();
        int before = target.lines().size();
        Checkpoint.restore(options(img, null, List.of()));
        assertEquals("/" + name + "/inner", pidsCgroup(target.pid()), "back in its cgroup, made again");
        target.awaitLines(before + 3);
    }

    @Test
    void ignoreLeavesItInCryosCgroups() throws Exception {
        Path img = dumpedFromItsCgroup();
        Checkpoint.restore(options(img, "ignore", List.of()));
        assertEquals(pidsCgroup((int) ProcessHandle.current().pid()), pidsCgroup(target.pid()), "where Cryo is");
        assertFalse(Files.exists(PIDS.resolve(name)), "no cgroup made");
    }

    @Test
    void aNewCgroupRootMovesTheTree() throws Exception {
        Path img = dumpedFromItsCgroup();
        Checkpoint.restore(options(img, "soft", List.of("pids:/" + name + "-new")));
        assertEquals("/" + name + "-new", pidsCgroup(target.pid()), "the root task's cgroup moved to the new root");
        assertFalse(Files.exists(PIDS.resolve(name)), "the old one not made");
    }

    @Test
    void aFailedRestoreRemovesTheCgroupsItMade() throws Exception {
        Path img = dumpedFromItsCgroup();
        System.setProperty("cryo.fault.step", "ready");
        try {
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.restore(options(img, null, List.of())));
            assertTrue(e.getMessage().contains("fault injected"), e.getMessage());
        } finally {
            System.clearProperty("cryo.fault.step");
        }
        assertFalse(target.alive(), "nothing restored");
        assertFalse(Files.exists(PIDS.resolve(name)), "the cgroups it made are gone");
    }
}
