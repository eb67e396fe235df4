package dev.cryo.engine;

import dev.cryo.engine.restore.HostCompatibility;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.mm_entry;
import dev.cryo.image.proto.vma_entry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Images that claim another machine (a CPU feature this one lacks, a vDSO of another size) are refused before the
 * restore makes anything, naming what is missing; the same images, unchanged, restore.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class AnotherMachineTest {
    @TempDir
    Path tmp;

    private Path dumpedCounter(Target t) throws Exception {
        Path img = Checkpoint.dumpUntilGone(t, 2, tmp.resolve("img"));
        Files.delete(img.resolve(ImageChecksums.FILE)); // the images are changed below, as another machine's would be
        return img;
    }

    private Target counter() throws Exception {
        return Target.start(CProgram.compile(tmp, "counter", CProgram.counter(10_000)), tmp.resolve("out.txt"));
    }

    @Test
    void aCpuFeatureThisMachineLacksIsRefusedBeforeAnythingIsMade() throws Exception {
        long here = HostCompatibility.Host.current().xfeatures();
        Assumptions.assumeTrue(here != -1L, "arch_prctl(ARCH_GET_XCOMP_SUPP) needs Linux 5.16");
        int lacking = 2;
        while ((here & (1L << lacking)) != 0) {
            lacking++;
        }
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            ImageDir dir = ImageDir.open(img);
            core_entry core = dir.core(t.pid());
            var fp = core.getThreadInfo().getFpregs().toBuilder();
            long xcr0 = (fp.getPadding(12) & 0xffffffffL) | ((long) fp.getPadding(13) << 32);
            assertEquals(here & xcr0, xcr0, "the dump recorded this machine's XCR0 in the software bytes");
            xcr0 |= 1L << lacking;
            fp.setPadding(12, (int) xcr0).setPadding(13, (int) (xcr0 >>> 32));
            var changed = core.toBuilder();
            changed.getThreadInfoBuilder().setFpregs(fp);
            Path other = tmp.resolve("other-cpu");
            copy(img, other);
            ImageDir.open(other).writeCore(t.pid(), changed.build());

            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(other)).getMessage();
            assertTrue(m.startsWith("cannot restore pid " + t.pid() + ": the images come from a machine whose CPU has ")
                    && m.contains("xsave features 0x" + Long.toHexString(1L << lacking)) && m.contains("lacks"), m);
            assertFalse(Target.adopt(t.pid(), t.out()).alive(), "nothing was made");

            assertEquals(0, Checkpoint.restore(img));
            try (Target r = Target.adopt(t.pid(), t.out())) {
                r.awaitLines(r.lines().size() + 2);
            }
        }
    }

    @Test
    void aVdsoOfAnotherSizeIsRefusedBeforeAnythingIsMade() throws Exception {
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            mm_entry mm = ImageDir.open(img).mm(t.pid());
            var changed = mm.toBuilder();
            for (int i = 0; i < changed.getVmasCount(); i++) {
                vma_entry v = changed.getVmas(i);
                if ((v.getStatus() & HostCompatibility.VMA_AREA_VDSO) != 0) {
                    changed.setVmas(i, v.toBuilder().setEnd(v.getEnd() + 4096)); // a kernel with a longer vDSO
                }
            }
            copy(img, tmp.resolve("other-kernel"));
            ImageDir.open(tmp.resolve("other-kernel")).writeMm(t.pid(), changed.build());
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("other-kernel"))).getMessage();
            assertTrue(m.startsWith("cannot restore pid " + t.pid() + ": its vDSO block") && m.contains("another vDSO layout"), m);
            assertFalse(Target.adopt(t.pid(), t.out()).alive(), "nothing was made");
        }
    }

    private static void copy(Path from, Path to) throws Exception {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
    }
}
