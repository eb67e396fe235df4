package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.NativeFunction;
import dev.cryo.engine.sys.SyscallException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A plain {@code sleep} to trace: the process a restore clones the new task from, and the stand-in a dump
 * rehearses on. Started with posix_spawn (so the JDK's process reaper never waits on it), its stdio on
 * /dev/null, no other fd of Cryo's, every signal at SIG_DFL and none blocked.
 */
public final class HelperProcess {
    private static final int SIGSET_SIZE = 128, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
    /** glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336: room to spare. */
    private static final int ACTIONS = 0, ATTR = 256, ALL = 1024, NONE = ALL + SIGSET_SIZE, PID = NONE + SIGSET_SIZE,
            ARGV = PID + 8, ENVP = ARGV + 32, STRINGS = ENVP + 16, SIZE = 2048;

    /** libc's spawn calls, bound on first use (by a restore, on a thread of its own while it reads images). */
    private static final class Libc {
        static final NativeFunction ACTIONS_INIT = NativeFunction.libc("posix_spawn_file_actions_init"),
                ACTIONS_DESTROY = NativeFunction.libc("posix_spawn_file_actions_destroy"),
                ADD_OPEN = NativeFunction.libc("posix_spawn_file_actions_addopen"),
                ADD_CLOSEFROM = NativeFunction.libc("posix_spawn_file_actions_addclosefrom_np"),
                ATTR_INIT = NativeFunction.libc("posix_spawnattr_init"),
                ATTR_DESTROY = NativeFunction.libc("posix_spawnattr_destroy"),
                SET_SIGDEFAULT = NativeFunction.libc("posix_spawnattr_setsigdefault"),
                SET_SIGMASK = NativeFunction.libc("posix_spawnattr_setsigmask"),
                SET_FLAGS = NativeFunction.libc("posix_spawnattr_setflags"),
                SPAWN = NativeFunction.libc("posix_spawn");
    }

    private HelperProcess() {
    }

    /** Binds the spawn calls now (a restore does this while it reads images, so its fork does not wait for it). */
    public static void bind() {
        Libc.SPAWN.name();
    }

    public static int spawn() throws SyscallException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        NativeBuffer m = NativeBuffer.allocate(SIZE);
        long base = m.address();
        int at = STRINGS;
        long path = base + at;
        at = putString(m, at, sleep);
        long devNull = base + at;
        at = putString(m, at, "/dev/null");
        long arg0 = base + at;
        at = putString(m, at, "cryo-helper");
        long arg1 = base + at;
        putString(m, at, "1000000");
        m.putLong(ARGV, arg0);
        m.putLong(ARGV + 8, arg1);
        m.putLong(ARGV + 16, 0);
        m.putLong(ENVP, 0);
        Libc.ACTIONS_INIT.call(base + ACTIONS);
        Libc.ATTR_INIT.call(base + ATTR);
        try {
            // The new task inherits the helper's dispositions, and glibc's posix_spawn leaves its internal signals
            // (32, 33) ignored across exec: an all-ones set (written raw, sigaddset refuses those two) resets 1..64.
            for (int i = 0; i < SIGSET_SIZE; i += 8) {
                m.putLong(ALL + i, -1L);
                m.putLong(NONE + i, 0);
            }
            Libc.SET_SIGDEFAULT.call(base + ATTR, base + ALL);
            Libc.SET_SIGMASK.call(base + ATTR, base + NONE);
            Libc.SET_FLAGS.call(base + ATTR, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
            Libc.ADD_OPEN.call(base + ACTIONS, 0, devNull, 0, 0, 0);
            Libc.ADD_OPEN.call(base + ACTIONS, 1, devNull, 1, 0, 0);
            Libc.ADD_OPEN.call(base + ACTIONS, 2, devNull, 1, 0, 0);
            Libc.ADD_CLOSEFROM.call(base + ACTIONS, 3);
            int r = (int) Libc.SPAWN.call(base + PID, path, base + ACTIONS, base + ATTR, base + ARGV, base + ENVP);
            if (r != 0) {
                throw new SyscallException("posix_spawn(" + sleep + ")", r);
            }
            return m.getInt(PID);
        } finally {
            Libc.ATTR_DESTROY.call(base + ATTR);
            Libc.ACTIONS_DESTROY.call(base + ACTIONS);
            java.lang.ref.Reference.reachabilityFence(m);
        }
    }

    private static int putString(NativeBuffer m, int at, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        m.put(at, b);
        m.buffer().put(at + b.length, (byte) 0);
        return at + b.length + 1;
    }
}
