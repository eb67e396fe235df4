package dev.cryo.engine.incremental;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Target;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * An idle process with {@link #PAGES} pages of known content, and the test's record of what each page holds.
 * The test changes pages itself (process_vm_writev goes through the same write faults as the program's own
 * stores, so every tracker sees them) and after a restore reads every page back.
 */
final class PatternProgram implements AutoCloseable {
    static final int PAGES = 512;
    static final String SOURCE = """
            #include <stdio.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int pages = PAGES;
                unsigned char *a = mmap(NULL, pages * 4096L, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (int i = 0; i < pages; i++)
                    memset(a + i * 4096L, (i * 131 + 7) & 0xff, 4096);
                printf("%p\\n", (void *)a);
                fflush(stdout);
                for (;;)
                    pause();
            }
            """;

    Target target;
    final long address;
    private final byte[] fills = new byte[PAGES];
    private final Random random;

    private PatternProgram(Target target, long address, long seed) {
        this.target = target;
        this.address = address;
        this.random = new Random(seed);
        for (int i = 0; i < PAGES; i++) {
            fills[i] = (byte) (i * 131 + 7);
        }
    }

    static PatternProgram start(Path dir, long seed) throws Exception {
        Path exe = CProgram.compile(dir, "pattern", "#define PAGES " + PAGES + "\n" + SOURCE);
        Target t = Target.start(exe, dir.resolve("pattern.out"));
        t.awaitLines(1);
        long address = Long.decode(t.lines().get(0).strip());
        return new PatternProgram(t, address, seed);
    }

    int pid() {
        return target.pid();
    }

    /** Changes {@code count} distinct pages to a new fill; returns how many it changed. */
    int writeRandomPages(int count) throws SyscallException {
        int[] order = random.ints(0, PAGES).distinct().limit(count).toArray();
        for (int p : order) {
            fills[p] = (byte) (fills[p] + 1 + random.nextInt(200));
            byte[] page = new byte[4096];
            Arrays.fill(page, fills[p]);
            new RemoteMemory(pid()).write(address + (long) p * 4096, page);
        }
        return order.length;
    }

    /** Every page holds what the test last put there. */
    void assertIntact(int pid) throws SyscallException {
        RemoteMemory m = new RemoteMemory(pid);
        for (int p = 0; p < PAGES; p++) {
            byte[] want = new byte[4096];
            Arrays.fill(want, fills[p]);
            assertArrayEquals(want, m.read(address + (long) p * 4096, 4096), "page " + p + " of pid " + pid);
        }
    }

    @Override
    public void close() {
        target.close();
    }
}
