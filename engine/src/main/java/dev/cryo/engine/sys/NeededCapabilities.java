package dev.cryo.engine.sys;

import dev.cryo.engine.CryoException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a dump or a restore needs of the process that runs it, checked before anything else: it traces the tree
 * (CAP_SYS_PTRACE), reads /proc/PID/map_files and makes tasks with their own pids (CAP_CHECKPOINT_RESTORE, or
 * CAP_SYS_ADMIN which includes it). A user without them gets one line that says so, instead of the first /proc or
 * ptrace refusal, deep in the work, that would follow. CRIU, likewise, wants root.
 */
public final class NeededCapabilities {
    static final int CAP_SYS_PTRACE = 19, CAP_SYS_ADMIN = 21, CAP_CHECKPOINT_RESTORE = 40;

    private NeededCapabilities() {
    }

    /** Refuses {@code command} ("dump", "restore") when this process lacks what it needs. */
    public static void require(String command) throws CryoException {
        try {
            String missing = missing(Files.readString(Path.of("/proc/self/status")));
            if (missing != null) {
                throw new CryoException("cryo " + command + " needs root: " + missing + ", which tracing the tree and "
                        + "reading /proc/PID/map_files need; run it as root (sudo)");
            }
        } catch (IOException e) {
            // no /proc/self/status to read: the work itself says what it lacks
        }
    }

    /** What the process whose /proc/PID/status is {@code status} lacks, in words; null when nothing. */
    static String missing(String status) {
        long eff = -1;
        String uid = "?";
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                eff = Long.parseUnsignedLong(line.substring(7).trim(), 16);
            } else if (line.startsWith("Uid:")) {
                String[] ids = line.substring(4).trim().split("\\s+");
                uid = ids.length > 1 ? ids[1] : ids[0];
            }
        }
        if (eff == -1) {
            return null;
        }
        List<String> lacks = new ArrayList<>();
        if ((eff & (1L << CAP_SYS_PTRACE)) == 0) {
            lacks.add("CAP_SYS_PTRACE");
        }
        if ((eff & (1L << CAP_CHECKPOINT_RESTORE)) == 0 && (eff & (1L << CAP_SYS_ADMIN)) == 0) {
            lacks.add("CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN)");
        }
        return lacks.isEmpty() ? null : "this process (uid " + uid + ") lacks " + String.join(" and ", lacks);
    }
}
