package dev.cryo.engine.restore;

import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.SyscallException;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process a restore clones the new task from: a plain {@code sleep}, started with posix_spawn so the JDK's
 * process reaper never waits on it.
 */
final class HelperProcess {
    private HelperProcess() {
    }

    static int spawn() throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        int[] pid = new int[1];
        int r = LibC.INSTANCE.posix_spawn(pid, sleep, null, null,
                new String[]{"cryo-restore", "1000000", null}, new String[]{null});
        if (r != 0) {
            throw new SyscallException("posix_spawn(" + sleep + ")", r);
        }
        return pid[0];
    }
}
