package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.SyscallException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The remote syscalls a frozen task's dump reads its state with (brk, handlers, timers, prctl flags), gathered first
 * and then run as one sequence ({@link RemoteSyscall#rawEachChain}): the task's own registers and mask are put back
 * once at its end instead of after every call, and each call but the last is stepped over (one stop each instead of
 * two) where SIGTRAP allows. A Cryo killed by SIGKILL while a call runs leaves the task with Cryo's registers, so the
 * fewer stops these calls take, the shorter that moment is; the frozen window is shorter too.
 *
 * <p>Each resource adds its calls and gets a {@link Later} back, answered once {@link #run} is done. Calls that write
 * a struct write it into the scratch area at an address {@link #out} gave; the area is read back once, after the
 * last call.
 */
public final class RemoteReads {
    /** A value a resource reads from the calls' results, available once the sequence ran. */
    public interface Later<T> {
        T get() throws SyscallException;
    }

    private final RemoteSyscall remote;
    private final RemoteScratch scratch;
    private final int areaStart;
    private final int areaSize;
    private int used;
    private final List<String> names = new ArrayList<>();
    private final List<long[]> calls = new ArrayList<>(); // {nr, args...}
    private long[] results;
    private ByteBuffer area;

    /**
     * @param scratch   scratch memory in the task (null when no call writes a struct)
     * @param areaStart where in it the calls' structs go
     * @param areaSize  how many bytes they may take, at most ({@link #out} refuses more)
     */
    public RemoteReads(RemoteSyscall remote, RemoteScratch scratch, int areaStart, int areaSize) {
        this.remote = remote;
        this.scratch = scratch;
        this.areaStart = areaStart;
        this.areaSize = areaSize;
    }

    /** Room for a struct of {@code bytes} that a call writes; returns its address in the task. */
    public long out(int bytes) {
        int at = used;
        used += (bytes + 7) & ~7;
        if (scratch == null || used > areaSize) {
            throw new IllegalStateException("remote reads: scratch area of " + areaSize + " bytes exceeded");
        }
        return scratch.address() + areaStart + at;
    }

    /** Adds {@code nr(args)} to the sequence, named {@code name} in errors; returns its index. */
    public int call(String name, long nr, long... args) {
        long[] c = new long[args.length + 1];
        c[0] = nr;
        System.arraycopy(args, 0, c, 1, args.length);
        names.add(name);
        calls.add(c);
        return calls.size() - 1;
    }

    /**
     * Runs every call added, in order, then reads the structs back.
     *
     * @param stepping whether SIGTRAP is neither ignored by the task nor pending in it ({@link RemoteSyscall#rawEachChain})
     */
    public void run(boolean stepping) throws SyscallException {
        if (results != null) {
            throw new IllegalStateException("remote reads already ran");
        }
        if (calls.isEmpty()) {
            results = new long[0];
        } else {
            long[] nrs = new long[calls.size()];
            long[][][] args = new long[1][calls.size()][];
            for (int k = 0; k < calls.size(); k++) {
                long[] c = calls.get(k);
                nrs[k] = c[0];
                args[0][k] = java.util.Arrays.copyOfRange(c, 1, c.length);
            }
            results = RemoteSyscall.rawEachChain(List.of(remote), nrs, args, stepping)[0];
        }
        byte[] bytes = used == 0 ? new byte[0] : scratch.read(areaStart, used);
        area = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Call {@code index}'s result: a value or {@code -errno}. */
    public long raw(int index) {
        if (results == null) {
            throw new IllegalStateException("remote reads not run yet");
        }
        return results[index];
    }

    /** Call {@code index}'s result; throws naming the call when it failed. */
    public long result(int index) throws SyscallException {
        long r = raw(index);
        if (r < 0 && r > -4096) {
            throw new SyscallException("remote " + names.get(index) + " in pid " + remote.pid(), (int) -r);
        }
        return r;
    }

    /** The struct a call wrote at {@code address} (one {@link #out} gave), little-endian, from its start. */
    public ByteBuffer at(long address, int bytes) {
        if (area == null) {
            throw new IllegalStateException("remote reads not run yet");
        }
        int offset = (int) (address - scratch.address() - areaStart);
        return area.slice(offset, bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Bytes of scratch the calls' structs need: what to borrow before adding them. */
    public static int bytesFor(int... structs) {
        int total = 0;
        for (int s : structs) {
            total += (s + 7) & ~7;
        }
        return total;
    }
}
