package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.Spawn;
import dev.cryo.engine.sys.SyscallException;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A plain {@code sleep} to trace: the process a restore clones the new task from, and the stand-in a dump
 * rehearses on. Started with posix_spawn (so the JDK's process reaper never waits on it), its stdio on
 * /dev/null, no other fd of Cryo's, every signal at SIG_DFL and none blocked (the new task inherits them).
 */
public final class HelperProcess {
    private HelperProcess() {
    }

    public static int spawn() throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        return Spawn.program(sleep, new String[]{"cryo-helper", "1000000"}, new String[0], -1, -1, true);
    }
}
