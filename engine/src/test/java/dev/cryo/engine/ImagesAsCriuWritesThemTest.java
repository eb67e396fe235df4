package dev.cryo.engine;

import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageIndex;
import dev.cryo.image.proto.user_x86_regs_entry;
import dev.cryo.image.proto.vma_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What CRIU's own restore reads from a dump, beyond what crit decodes, as CRIU 4.2 writes it (each point was a
 * refusal or a dead task when CRIU 4.2 restored Cryo's images here): the vDSO's pages, which CRIU's restore parses to
 * match the new kernel's symbols; the kernel's data pages before it as one VVAR entry; a syscall the task was stopped
 * in already set to go on (rax holds no restart code, which CRIU's restore would hand the program as an error); the
 * network lock named as CRIU numbers it.
 */
@RootWithPtrace
class ImagesAsCriuWritesThemTest {
    private static final long VMA_AREA_VDSO = 1 << 3, VMA_AREA_VVAR = 1 << 12;

    @TempDir
    Path tmp;

    @Test
    void theVdsoIsSavedTheDataPagesAreOneEntryAndTheRestartIsDecided() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(200_000)); // asleep nearly all the time
        Path img = tmp.resolve("img");
        byte[] vdso;
        int pid;
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            pid = t.pid();
            String line = Files.readAllLines(Path.of("/proc/" + pid + "/maps")).stream()
                    .filter(l -> l.endsWith("[vdso]")).findFirst().orElseThrow();
            String[] range = line.substring(0, line.indexOf(' ')).split("-");
            long start = Long.parseUnsignedLong(range[0], 16), end = Long.parseUnsignedLong(range[1], 16);
            long dataMappings = Files.readAllLines(Path.of("/proc/" + pid + "/maps")).stream()
                    .filter(l -> l.endsWith("[vvar]") || l.endsWith("[vvar_vclock]")).count();
            vdso = new dev.cryo.engine.mem.RemoteMemory(pid).read(start, (int) (end - start));
            Checkpoint.dump(pid, img, false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());

            ImageDir dir = ImageDir.open(img);
            List<vma_entry> vmas = dir.mm(pid).getVmasList();
            List<vma_entry> vvar = vmas.stream().filter(v -> (v.getStatus() & VMA_AREA_VVAR) != 0).toList();
            assertEquals(dataMappings > 0 ? 1 : 0, vvar.size(), "one VVAR entry for " + dataMappings + " mappings");
            vma_entry v = vmas.stream().filter(e -> (e.getStatus() & VMA_AREA_VDSO) != 0).findFirst().orElseThrow();
            assertEquals(start, v.getStart());
            if (!vvar.isEmpty()) {
                assertEquals(start, vvar.get(0).getEnd(), "the data pages end where the vDSO starts");
            }
            PageIndex pages = dir.pageIndex(pid);
            for (long a = start; a < end; a += 4096) {
                int off = (int) (a - start);
                assertArrayEquals(java.util.Arrays.copyOfRange(vdso, off, off + 4096), pages.readPage(a),
                        "vDSO page at " + Long.toHexString(a));
            }
            assertEquals("7f454c46", HexFormat.of().formatHex(pages.readPage(start), 0, 4), "an ELF image");

            // the lock a restore must lift, as CRIU numbers it: Cryo's default is nftables (1), not iptables (0),
            // whose rules CRIU's restore would look for in vain
            assertEquals(1, dir.inventory().getNetworkLockMethod());

            user_x86_regs_entry g = dir.core(pid).getThreadInfo().getGpregs();
            assertTrue(g.getOrigAx() >= 0, "stopped in a syscall: " + g);
            assertFalse(Set.of(Registers.ERESTARTSYS, Registers.ERESTARTNOINTR, Registers.ERESTARTNOHAND,
                    Registers.ERESTART_RESTARTBLOCK).contains(g.getAx()), "no restart code in rax: " + g);

            // and Cryo's own restore of them: the counter goes on
            int before = t.lines().size();
            Checkpoint.restore(img);
            t.awaitLines(before + 2);
        }
    }
}
