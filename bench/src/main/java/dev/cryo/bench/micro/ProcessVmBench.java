package dev.cryo.bench.micro;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.concurrent.TimeUnit;

/**
 * process_vm_readv / process_vm_writev through the engine's {@link RemoteMemory}, against this JVM's own pid
 * (the kernel takes the same path as for another process, minus nothing but the access check).
 * One operation moves 1024 single pages (4 MiB) that are not adjacent, in calls of {@code iovecs} remote ranges
 * each: 1024 calls at 1, one call at 1024. {@link Contiguous} moves the same 4 MiB as one range: the ceiling.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ProcessVmBench {
    static final int PAGES = 1024;
    static final int PAGE = 4096;

    @Param({"1", "16", "64", "1024"})
    public int iovecs;

    private RemoteMemory memory;
    private NativeBuffer remote;
    private NativeBuffer local;
    private long[][] batchAddrs;
    private long[][] batchLens;

    @Setup
    public void setUp() {
        memory = new RemoteMemory((int) ProcessHandle.current().pid());
        remote = NativeBuffer.allocate(2 * PAGES * PAGE);
        local = NativeBuffer.allocate(PAGES * PAGE);
        touch(remote);
        touch(local);
        int batches = PAGES / iovecs;
        batchAddrs = new long[batches][iovecs];
        batchLens = new long[batches][iovecs];
        for (int b = 0; b < batches; b++) {
            for (int i = 0; i < iovecs; i++) {
                int page = b * iovecs + i;
                // every other page, so no two ranges touch
                batchAddrs[b][i] = remote.address() + 2L * page * PAGE;
                batchLens[b][i] = PAGE;
            }
        }
    }

    private static void touch(NativeBuffer b) {
        for (int off = 0; off < b.capacity(); off += PAGE) {
            b.putLong(off, off);
        }
    }

    @Benchmark
    public void readv() throws SyscallException {
        move(false);
    }

    @Benchmark
    public void writev() throws SyscallException {
        move(true);
    }

    private void move(boolean toRemote) throws SyscallException {
        long cursor = local.address();
        for (int b = 0; b < batchAddrs.length; b++) {
            memory.transfer(toRemote, cursor, batchAddrs[b], batchLens[b], iovecs);
            cursor += (long) iovecs * PAGE;
        }
    }

    /** The ceiling: the same 4 MiB as one remote and one local range, in one call. */
    @State(Scope.Benchmark)
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public static class Contiguous {
        private RemoteMemory memory;
        private NativeBuffer remote;
        private NativeBuffer local;

        @Setup
        public void setUp() {
            memory = new RemoteMemory((int) ProcessHandle.current().pid());
            remote = NativeBuffer.allocate(PAGES * PAGE);
            local = NativeBuffer.allocate(PAGES * PAGE);
            touch(remote);
            touch(local);
        }

        @Benchmark
        public void readv() throws SyscallException {
            memory.transfer(false, local.address(), new long[]{remote.address()}, new long[]{(long) PAGES * PAGE}, 1);
        }

        @Benchmark
        public void writev() throws SyscallException {
            memory.transfer(true, local.address(), new long[]{remote.address()}, new long[]{(long) PAGES * PAGE}, 1);
        }
    }
}
