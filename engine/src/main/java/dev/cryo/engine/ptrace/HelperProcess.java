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
 * /dev/null, no other fd of Cryo's, every signal at SIG_DFL and none blocked.
 */
public final class HelperProcess {
    private static final int SIGSET_SIZE = 128, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    private HelperProcess() {
    }

    public static int spawn() throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        LibC c = LibC.INSTANCE;
        Pointer actions = Memory.allocateDirect(LibC.RUNTIME, 256);
        c.posix_spawn_file_actions_init(actions);
        Pointer attr = Memory.allocateDirect(LibC.RUNTIME, 512);
        c.posix_spawnattr_init(attr);
        try {
            // The new task inherits the helper's dispositions, and glibc's posix_spawn leaves its internal signals
            // (32, 33) ignored across exec: an all-ones set (written raw, sigaddset refuses those two) resets 1..64.
            Pointer all = Memory.allocateDirect(LibC.RUNTIME, SIGSET_SIZE);
            all.setMemory(0, SIGSET_SIZE, (byte) 0xff);
            Pointer none = Memory.allocateDirect(LibC.RUNTIME, SIGSET_SIZE);
            none.setMemory(0, SIGSET_SIZE, (byte) 0);
            c.posix_spawnattr_setsigdefault(attr, all);
            c.posix_spawnattr_setsigmask(attr, none);
            c.posix_spawnattr_setflags(attr, (short) (POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
            c.posix_spawn_file_actions_addopen(actions, 0, "/dev/null", 0, 0);
            c.posix_spawn_file_actions_addopen(actions, 1, "/dev/null", 1, 0);
            c.posix_spawn_file_actions_addopen(actions, 2, "/dev/null", 1, 0);
            c.posix_spawn_file_actions_addclosefrom_np(actions, 3);
            int[] pid = new int[1];
            int r = c.posix_spawn(pid, sleep, actions, attr, new String[]{"cryo-helper", "1000000", null},
                    new String[]{null});
            if (r != 0) {
                throw new SyscallException("posix_spawn(" + sleep + ")", r);
            }
            return pid[0];
        } finally {
            c.posix_spawnattr_destroy(attr);
            c.posix_spawn_file_actions_destroy(actions);
        }
    }
}
