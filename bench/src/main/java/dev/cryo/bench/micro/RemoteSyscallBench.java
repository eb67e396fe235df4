package dev.cryo.bench.micro;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * One remote syscall round trip ({@code getpid} run inside a frozen {@code sleep}): set registers, PTRACE_SYSCALL
 * to entry, PTRACE_SYSCALL to exit, read rax, with two waits. The tracee is started with posix_spawn (never
 * ProcessBuilder: the JDK's reaper would steal its stops) and every ptrace request runs on the engine's
 * {@link Tracer} thread, {@value #CALLS} calls per hand-off so the hand-off itself is amortised.
 * {@link #localGetpid} is the same syscall made directly, for the ratio.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RemoteSyscallBench {
    static final int CALLS = 64;

    /**
     * {@code float}: tracer and tracee wherever the scheduler puts them (a dump's case: the target is not Cryo's to
     * move); {@code pinned}: both on the tracer's CPU, as a restore keeps the tasks it builds ({@code CpuPin}).
     */
    @Param({"float", "pinned"})
    public String cpus;

    private Tracer tracer;
    private dev.cryo.engine.sys.CpuPin pin = dev.cryo.engine.sys.CpuPin.none();
    private int pid;
    private Registers saved;
    private RemoteSyscall remote;

    @Setup
    public void setUp() throws CryoException {
        String sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? "/usr/bin/sleep" : "/bin/sleep";
        int[] out = new int[1];
        int r = LibC.INSTANCE.posix_spawn(out, sleep, null, null, new String[]{"cryo-jmh-tracee", "3600", null},
                new String[]{null});
        if (r != 0) {
            throw new IllegalStateException("posix_spawn(" + sleep + ") failed: errno " + r);
        }
        pid = out[0];
        tracer = new Tracer();
        tracer.call(() -> {
            try {
                if (cpus.equals("pinned")) {
                    pin = dev.cryo.engine.sys.CpuPin.here();
                    pin.apply(pid);
                }
                Freezer.freeze(pid, Ptrace.O_TRACESYSGOOD | Ptrace.O_EXITKILL);
                saved = Ptrace.registers(pid);
                long site = SyscallSite.find(new RemoteMemory(pid), new ProcFs().maps(pid), saved);
                remote = new RemoteSyscall(pid, site, saved);
                long self = remote.call("getpid", Syscall.GETPID);
                if (self != pid) {
                    throw new CryoException("remote getpid in pid " + pid + " returned " + self);
                }
                return null;
            } catch (SyscallException | IOException e) {
                throw new CryoException("cannot set up a remote syscall in pid " + pid + ": " + e.getMessage(), e);
            }
        });
    }

    @TearDown
    public void tearDown() throws CryoException {
        try {
            tracer.call(() -> {
                pin.close();
                try {
                    Ptrace.setRegisters(pid, saved);
                    Ptrace.detach(pid, 0);
                } catch (SyscallException e) {
                    // killed below either way
                }
                return null;
            });
        } finally {
            tracer.close();
            Syscall.raw(Syscall.KILL, pid, 9);
            LibC.INSTANCE.waitpid(pid, new int[1], 0x40000000 /* __WALL */);
        }
    }

    @Benchmark
    @OperationsPerInvocation(CALLS)
    public long remoteGetpid() throws CryoException {
        return tracer.call(() -> {
            long sum = 0;
            try {
                for (int i = 0; i < CALLS; i++) {
                    sum += remote.raw(Syscall.GETPID);
                }
            } catch (SyscallException e) {
                throw new CryoException(e.getMessage(), e);
            }
            return sum;
        });
    }

    /** What the Tracer hand-off alone costs, once per {@link #remoteGetpid} invocation (not per call). */
    @Benchmark
    public long tracerHandOff() throws CryoException {
        return tracer.call(() -> 0L);
    }

    @Benchmark
    public long localGetpid() {
        return Syscall.raw(Syscall.GETPID);
    }
}
