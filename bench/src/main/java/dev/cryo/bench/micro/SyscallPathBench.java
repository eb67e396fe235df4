package dev.cryo.bench.micro;

import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.Syscall;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

import java.util.concurrent.TimeUnit;

/**
 * One {@code getpid} through each of the engine's two native paths: JNR's proxy ({@code LibC.syscall}, how every
 * syscall went before) and jffi's six-long entry ({@code Syscall.raw}, how a dump makes them now). Compiled here;
 * {@link Interpreted} runs the same under {@code -Xint}, which is how a cold CLI run executes its frozen window.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(jvmArgsAppend = "-Djnr.ffi.asm.enabled=false") // as bin/cryo runs JNR: bound by reflection
public class SyscallPathBench {
    @Benchmark
    public long jnrProxy() {
        return LibC.INSTANCE.syscall(Syscall.GETPID, 0, 0, 0, 0, 0, 0);
    }

    @Benchmark
    public long jffiDirect() {
        return Syscall.raw(Syscall.GETPID);
    }

    /** The same two, interpreted. */
    @Fork(jvmArgsAppend = {"-Xint", "-Djnr.ffi.asm.enabled=false"})
    public static class Interpreted extends SyscallPathBench {
    }
}
