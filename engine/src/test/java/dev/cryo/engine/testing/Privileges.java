package dev.cryo.engine.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Skips a test, with the reason printed, when the machine cannot run it. */
public final class Privileges {
    private Privileges() {
    }

    public static void assumeRootWithPtrace() throws IOException {
        String status = Files.readString(Path.of("/proc/self/status"));
        boolean root = status.lines().anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[1].equals("0"));
        if (!root) {
            System.out.println("SKIPPED: checkpoint/restore tests need root (CAP_SYS_PTRACE, CAP_SYS_ADMIN)");
        }
        assumeTrue(root, "checkpoint/restore tests need root (CAP_SYS_PTRACE, CAP_SYS_ADMIN)");
    }
}
