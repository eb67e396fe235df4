package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.SyscallException;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A plain {@code sleep} to trace: the process a restore clones the new task from, and the stand-in a dump
 * rehearses on. Started with posix_spawn (so the JDK's process reaper never waits on it), its stdio on
 * /dev/null and no other fd of Cryo's.
 */
public final class HelperProcess {
    private HelperProcess() {
    }

    public static int spawn() throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        LibC c = LibC.INSTANCE;
        Pointer actions = Memory.allocateDirect(LibC.RUNTIME, 256);
        c.posix_spawn_file_actions_init(actions);
        try {
            c.posix_spawn_file_actions_addopen(actions, 0, "/dev/null", 0, 0);
            c.posix_spawn_file_actions_addopen(actions, 1, "/dev/null", 1, 0);
            c.posix_spawn_file_actions_addopen(actions, 2, "/dev/null", 1, 0);
            c.posix_spawn_file_actions_addclosefrom_np(actions, 3);
            int[] pid = new int[1];
            int r = c.posix_spawn(pid, sleep, actions, null, new String[]{"cryo-helper", "1000000", null},
                    new String[]{null});
            if (r != 0) {
                throw new SyscallException("posix_spawn(" + sleep + ")", r);
            }
            return pid[0];
        } finally {
            c.posix_spawn_file_actions_destroy(actions);
        }
    }
}
