package dev.cryo.engine.sys;

import java.nio.charset.StandardCharsets;

/**
 * Programs Cryo starts itself (the helper a restore clones from, the userfaultfd keeper): posix_spawn called
 * through jffi, so the JDK's process reaper never waits on them and JNR's proxy is never bound. Their stdio is
 * /dev/null and they get no fd of Cryo's but the one passed on purpose.
 */
public final class Spawn {
    static final int SIGSET_SIZE = 128, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
    /** glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336: room to spare. */
    static final int ACTIONS = 0, ATTR = 256, ALL = 1024, NONE = ALL + SIGSET_SIZE, PID = NONE + SIGSET_SIZE,
            STRINGS = PID + 8;

    /** libc's spawn calls, looked up on first use (a restore does it on a thread of its own while it reads images). */
    private static final class Libc {
        static final NativeFunction ACTIONS_INIT = NativeFunction.libc("posix_spawn_file_actions_init"),
                ACTIONS_DESTROY = NativeFunction.libc("posix_spawn_file_actions_destroy"),
                ADD_OPEN = NativeFunction.libc("posix_spawn_file_actions_addopen"),
                ADD_DUP2 = NativeFunction.libc("posix_spawn_file_actions_adddup2"),
                ADD_CLOSEFROM = NativeFunction.libc("posix_spawn_file_actions_addclosefrom_np"),
                ATTR_INIT = NativeFunction.libc("posix_spawnattr_init"),
                ATTR_DESTROY = NativeFunction.libc("posix_spawnattr_destroy"),
                SET_SIGDEFAULT = NativeFunction.libc("posix_spawnattr_setsigdefault"),
                SET_SIGMASK = NativeFunction.libc("posix_spawnattr_setsigmask"),
                SET_FLAGS = NativeFunction.libc("posix_spawnattr_setflags"),
                SPAWN = NativeFunction.libc("posix_spawn");
    }

    private Spawn() {
    }

    /** Looks the spawn calls up now, so that the first spawn does not wait for it. */
    public static void bind() {
        Libc.SPAWN.name();
    }

    /**
     * Starts {@code path} with {@code argv} and the environment {@code env}; returns its pid.
     *
     * @param passFd       an fd of Cryo's the program gets as {@code asFd} (dup2, so without FD_CLOEXEC); -1: none
     * @param resetSignals every signal at SIG_DFL and none blocked in the program (glibc's posix_spawn otherwise
     *                     leaves its internal signals 32 and 33 ignored across exec)
     */
    public static int program(String path, String[] argv, String[] env, int passFd, int asFd, boolean resetSignals)
            throws SyscallException {
        return program(path, argv, env, passFd >= 0 ? new int[]{passFd} : new int[0], asFd, resetSignals);
    }

    /**
     * As {@link #program(String, String[], String[], int, int, boolean)}, passing {@code passFds} as {@code firstFd},
     * {@code firstFd + 1} and on. Each must be above the last of those numbers (a dup2 onto one not yet passed
     * would close it): {@code fcntl(F_DUPFD_CLOEXEC)} from a high number gives such fds.
     */
    public static int program(String path, String[] argv, String[] env, int[] passFds, int firstFd,
                              boolean resetSignals) throws SyscallException {
        for (int f : passFds) {
            if (f < firstFd + passFds.length && passFds.length > 1) {
                throw new IllegalArgumentException("fd " + f + " would be closed by the passing of another");
            }
        }
        byte[][] strings = new byte[2 + argv.length + env.length][];
        strings[0] = cString(path);
        strings[1] = cString("/dev/null");
        for (int i = 0; i < argv.length; i++) {
            strings[2 + i] = cString(argv[i]);
        }
        for (int i = 0; i < env.length; i++) {
            strings[2 + argv.length + i] = cString(env[i]);
        }
        int pointers = (argv.length + 1 + env.length + 1) * 8;
        int size = STRINGS + pointers;
        for (byte[] s : strings) {
            size += s.length;
        }
        NativeBuffer m = NativeBuffer.allocate(size);
        long base = m.address();
        int argvAt = STRINGS, envAt = argvAt + (argv.length + 1) * 8;
        long[] addr = new long[strings.length];
        int at = STRINGS + pointers;
        for (int i = 0; i < strings.length; i++) {
            m.put(at, strings[i]);
            addr[i] = base + at;
            at += strings[i].length;
        }
        for (int i = 0; i < argv.length; i++) {
            m.putLong(argvAt + 8 * i, addr[2 + i]);
        }
        m.putLong(argvAt + 8 * argv.length, 0);
        for (int i = 0; i < env.length; i++) {
            m.putLong(envAt + 8 * i, addr[2 + argv.length + i]);
        }
        m.putLong(envAt + 8 * env.length, 0);
        long devNull = addr[1];
        Libc.ACTIONS_INIT.call(base + ACTIONS);
        Libc.ATTR_INIT.call(base + ATTR);
        try {
            if (resetSignals) {
                // an all-ones set, written raw: sigaddset refuses glibc's internal signals
                for (int i = 0; i < SIGSET_SIZE; i += 8) {
                    m.putLong(ALL + i, -1L);
                    m.putLong(NONE + i, 0);
                }
                Libc.SET_SIGDEFAULT.call(base + ATTR, base + ALL);
                Libc.SET_SIGMASK.call(base + ATTR, base + NONE);
                Libc.SET_FLAGS.call(base + ATTR, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
            }
            Libc.ADD_OPEN.call(base + ACTIONS, 0, devNull, 0, 0, 0);
            Libc.ADD_OPEN.call(base + ACTIONS, 1, devNull, 1, 0, 0);
            Libc.ADD_OPEN.call(base + ACTIONS, 2, devNull, 1, 0, 0);
            for (int i = 0; i < passFds.length; i++) {
                Libc.ADD_DUP2.call(base + ACTIONS, passFds[i], firstFd + i);
            }
            Libc.ADD_CLOSEFROM.call(base + ACTIONS, passFds.length > 0 ? firstFd + passFds.length : 3);
            int r = (int) Libc.SPAWN.call(base + PID, addr[0], base + ACTIONS, base + ATTR, base + argvAt, base + envAt);
            if (r != 0) {
                throw new SyscallException("posix_spawn(" + path + ")", r);
            }
            return m.getInt(PID);
        } finally {
            Libc.ATTR_DESTROY.call(base + ATTR);
            Libc.ACTIONS_DESTROY.call(base + ACTIONS);
            java.lang.ref.Reference.reachabilityFence(m);
        }
    }

    private static byte[] cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.copyOf(b, b.length + 1);
    }
}
