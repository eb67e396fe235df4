package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Memory locked with mlock comes back locked: a range locked whole has every page resident and locked again, and
 * one locked on fault (mlock2 MLOCK_ONFAULT) only the pages it had touched, still locked on fault. Before, every
 * restored range was unlocked (VmLck 0).
 */
@RootWithPtrace
class MlockRoundTripTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                char *whole = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                memset(whole, 7, 16 * 4096);
                mlock(whole, 16 * 4096);
                char *onfault = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                mlock2(onfault, 64 * 4096, MLOCK_ONFAULT);
                for (int i = 0; i < 4; i++) onfault[i * 4096] = 1;
                printf("%lx %lx\\n", (unsigned long) whole, (unsigned long) onfault);
                for (;;) pause();
            }
            """;

    @Test
    void lockedRangesComeBackLockedAsTheyWere() throws Exception {
        try (CProgram.Started s = CProgram.startReporting(tmp, "mlock", FIXTURE)) {
            Target t = s.target();
            String[] at = s.report();
            List<String> before = List.of(locked(t.pid(), at[0]), locked(t.pid(), at[1]));
            assertEquals(List.of("64 kB lo", "16 kB lo lf"), before, "the fixture's ranges as the kernel shows them");
            Checkpoint.restore(Checkpoint.dumpUntilGone(t, 1, tmp.resolve("img")));
            assertEquals(before, List.of(locked(t.pid(), at[0]), locked(t.pid(), at[1])));
        }
    }

    /** "N kB" locked of the VMA at {@code start} (hex), and its lock flags (lo, lf) from smaps. */
    private static String locked(int pid, String start) throws Exception {
        List<String> smaps = Files.readAllLines(Path.of("/proc/" + pid + "/smaps"));
        boolean in = false;
        String kb = null;
        for (String l : smaps) {
            if (l.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                in = l.startsWith(start + "-");
            } else if (in && l.startsWith("Locked:")) {
                kb = l.substring("Locked:".length()).trim();
            } else if (in && l.startsWith("VmFlags:")) {
                List<String> flags = List.of(l.substring("VmFlags:".length()).trim().split(" "));
                return kb + (flags.contains("lo") ? " lo" : "") + (flags.contains("lf") ? " lf" : "");
            }
        }
        return "no VMA at " + start;
    }
}
