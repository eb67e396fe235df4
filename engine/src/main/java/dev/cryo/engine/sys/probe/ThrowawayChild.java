package dev.cryo.engine.sys.probe;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * A {@code sleep} process started with {@code posix_spawn}, for probes that need a process to trace.
 * Not {@link ProcessBuilder}: the JDK's reaper thread would consume the child's ptrace stops.
 * Closing it kills and reaps it.
 */
final class ThrowawayChild implements AutoCloseable {
    /** The one libc entry point the probes cannot reach through {@code syscall}. */
    public interface Spawn {
        int posix_spawn(Pointer pid, Pointer path, Pointer fileActions, Pointer attr, Pointer argv, Pointer envp);
    }

    /** Loaded on first use: binding a library costs milliseconds. */
    private static final class SpawnHolder {
        static final Spawn SPAWN = LibraryLoader.create(Spawn.class).load("c");
    }

    private static final String[] SLEEP = {"/bin/sleep", "/usr/bin/sleep"};

    private final int pid;

    private ThrowawayChild(int pid) {
        this.pid = pid;
    }

    /** Spawns {@code sleep 600}; throws with the reason when it cannot. */
    static ThrowawayChild spawnSleep() throws IOException {
        String path = null;
        for (String candidate : SLEEP) {
            if (Files.isExecutable(Path.of(candidate))) {
                path = candidate;
                break;
            }
        }
        if (path == null) {
            throw new IOException("no sleep binary at /bin/sleep or /usr/bin/sleep to trace");
        }
        Pointer argv = memory(3 * 8);
        Pointer arg0 = cString(path), arg1 = cString("600");
        argv.putAddress(0, arg0.address());
        argv.putAddress(8, arg1.address());
        argv.putAddress(16, 0);
        Pointer envp = memory(8);
        Pointer pid = memory(4);
        int err = SpawnHolder.SPAWN.posix_spawn(pid, cString(path), null, null, argv, envp);
        // argv holds only their addresses: keep the strings alive until posix_spawn has copied them
        java.lang.ref.Reference.reachabilityFence(arg0);
        java.lang.ref.Reference.reachabilityFence(arg1);
        if (err != 0) {
            throw new IOException("posix_spawn " + path + " failed: " + errno(-err));
        }
        return new ThrowawayChild(pid.getInt(0));
    }

    int pid() {
        return pid;
    }

    /** Waits (bounded) until the child sleeps, so its libc start-up, rseq registration included, is done. */
    boolean awaitSleeping(long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        Path stat = Path.of("/proc/" + pid + "/stat");
        while (System.nanoTime() < deadline) {
            try {
                String s = Files.readString(stat);
                int close = s.lastIndexOf(')');
                if (close > 0 && close + 2 < s.length() && s.charAt(close + 2) == 'S') {
                    return true;
                }
            } catch (IOException e) {
                return false;
            }
            LockSupport.parkNanos(200_000);
        }
        return false;
    }

    /** One wait status of this child ({@code __WALL}), or {@code -errno}. */
    long waitStatus() {
        Pointer status = memory(4);
        long r;
        do {
            r = sys(WAIT4, pid, status.address(), WALL, 0);
        } while (r == -EINTR);
        return r < 0 ? r : status.getInt(0) & 0xffffffffL;
    }

    /** Kills the child and reaps it; a stop reported on the way is skipped. */
    @Override
    public void close() {
        sys(KILL, pid, SIGKILL);
        long status;
        do {
            status = waitStatus();
        } while (status >= 0 && (status & 0xff) == 0x7f);
    }
}
