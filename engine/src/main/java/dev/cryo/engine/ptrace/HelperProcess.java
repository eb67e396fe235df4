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

    /** Lifetime of a helper that its caller traces with {@code PTRACE_O_EXITKILL} at once: the tracer's end ends it. */
    static final int TRACED_SECONDS = 1_000_000;

    /**
     * A helper its caller seizes with {@link Ptrace#O_EXITKILL} straight away (or kills itself), so that a Cryo
     * killed by SIGKILL does not leave it behind.
     */
    public static int spawn() throws SyscallException {
        return spawnFor(TRACED_SECONDS);
    }

    /**
     * A helper that ends by itself after {@code seconds}: for one that is not traced with EXITKILL while Cryo uses it
     * (a rehearsal dumps it as a real target, which must not die with its tracer), so that a Cryo killed by SIGKILL
     * leaves no helper for longer than that.
     */
    public static int spawnFor(int seconds) throws SyscallException {
        return spawnFor(seconds, new int[0]);
    }

    /** As {@link #spawnFor(int)}, the helper holding {@code fds} (Cryo's, numbered above 3 + their count) as 3, 4, ... */
    public static int spawnFor(int seconds, int[] fds) throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        return Spawn.program(sleep, new String[]{"cryo-helper", Integer.toString(seconds)}, new String[0], fds, 3, true);
    }
}
