package dev.cryo.bench.micro;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.Trampolines;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.resource.ThreadState;
import dev.cryo.engine.sys.Spawn;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The per-thread part of a dump's frozen window, for the 65 threads of {@code fixtures-c/build/threads --threads=64}
 * (run from the repository root): each thread's registers and mask, xstate, own pending signals, rseq, robust list
 * and comm, then every thread's altstack and clear-child-tid through its remote calls, and the stop those leave
 * pending. Each invocation freezes the process first and lets it go after ({@link Level#Invocation}, not timed).
 *
 * <p>{@link #asBefore}: the reads one thread after another on the tracer, comm and robust list included; with
 * {@code -jvmArgsAppend -Dcryo.threads.remote=passes} the remote calls take their old checked sequence (the last
 * call to its syscall exit stop, registers read after each step). {@link #now}: comm and robust lists on the side
 * thread beside the ptrace work, and the remote calls as the dump makes them by default, each thread's over a
 * signal frame (the kill-safe calls: two stops each, not stepped). {@link #nowWithoutFrames}: the same, the calls
 * stepped over as before they had frames. Divide by 64 for a figure per extra thread (the leader's share is in the
 * one-thread counter's frozen time).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ThreadReadsBench {
    static final int THREADS = 64;

    private Tracer tracer;
    private int pid;
    private final ProcFs proc = new ProcFs();
    private List<Integer> tids;
    private List<ThreadState> threads;
    private long site;
    private RemoteScratch scratch;
    private Trampolines tramp;
    private List<MapsEntry> maps;

    @Setup(Level.Trial)
    public void start() throws Exception {
        Path program = Path.of("fixtures-c/build/threads").toAbsolutePath();
        if (!Files.isExecutable(program)) {
            throw new IllegalStateException(program + " is missing: run `make fixtures` and JMH from the repository root");
        }
        pid = Spawn.program(program.toString(), new String[]{"cryo-jmh-threads", "--threads=" + THREADS,
                "--step-ms=100"}, new String[0], -1, -1, true);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (proc.status(pid).threads() < THREADS + 1) { // a benchmark's set-up, not a test: it polls
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the threads fixture did not start its threads");
            }
            Thread.onSpinWait();
        }
        tids = proc.tasks(pid);
        tracer = new Tracer();
        tracer.call(() -> {
            Ptrace.prepareThread();
            ThreadState.prepareThread();
            RemoteMemory.prepareThread();
            return null;
        });
    }

    @TearDown(Level.Trial)
    public void stop() {
        tracer.close();
        Syscall.raw(Syscall.KILL, pid, 9);
        Syscall.raw(Syscall.WAIT4, pid, 0, 0x40000000, 0);
    }

    @Setup(Level.Invocation)
    public void freeze() throws CryoException {
        tracer.call(() -> {
            try {
                for (int tid : tids) {
                    Ptrace.seize(tid, Ptrace.O_TRACESYSGOOD);
                    Ptrace.interrupt(tid);
                }
                threads = new ArrayList<>(tids.size());
                for (int tid : tids) {
                    WaitStatus st;
                    do {
                        st = Ptrace.waitFor(tid);
                        if (!st.eventStop()) {
                            Ptrace.cont(tid, st.signalStop() ? st.stopSignal() : 0);
                            Ptrace.interrupt(tid);
                        }
                    } while (!st.eventStop());
                    threads.add(ThreadState.frozen(tid));
                }
                // what the dump reads before the threads: the leader's registers, its syscall site, a scratch
                ThreadState leader = threads.get(0);
                leader.read();
                RemoteMemory memory = new RemoteMemory(pid);
                maps = proc.maps(pid);
                site = SyscallSite.find(memory, maps, leader.registers());
                tramp = Trampolines.find(memory, maps);
                scratch = RemoteScratch.borrowStack(memory, leader.registers(), leader.remote(site),
                        64 + ThreadState.SCRATCH_BYTES * threads.size());
                return null;
            } catch (SyscallException | IOException e) {
                throw new CryoException("cannot freeze the threads fixture: " + e.getMessage(), e);
            }
        });
    }

    @TearDown(Level.Invocation)
    public void release() throws CryoException {
        tracer.call(() -> {
            try {
                scratch.release();
                for (ThreadState t : threads) {
                    t.putBack();
                }
                ThreadState.disarmAll(threads);
                for (ThreadState t : threads) {
                    Ptrace.detach(t.tid(), 0);
                }
                return null;
            } catch (SyscallException e) {
                throw new CryoException("cannot let the threads fixture go: " + e.getMessage(), e);
            }
        });
    }

    @Benchmark
    public Object asBefore() throws CryoException {
        return tracer.call(() -> {
            try {
                for (ThreadState t : threads) {
                    if (t.tid() != pid) {
                        t.read();
                    }
                    t.readFrozen(proc.comm(t.tid()));
                }
                ThreadState.readRemoteAll(threads, site, scratch, 64, true, null, maps);
                for (ThreadState t : threads) {
                    t.settle(); // the dump waits for these stops before it lets the threads go: counted here too
                }
                return threads;
            } catch (SyscallException | IOException e) {
                throw new CryoException(e.getMessage(), e);
            }
        });
    }

    @Benchmark
    public Object now() throws CryoException {
        return readAsTheDump(tramp);
    }

    @Benchmark
    public Object nowWithoutFrames() throws CryoException {
        return readAsTheDump(null);
    }

    private Object readAsTheDump(Trampolines frames) throws CryoException {
        return tracer.call(() -> {
            try {
                var plain = ThreadState.readPlainAside(threads, pid, proc.comm(pid), proc);
                for (ThreadState t : threads) {
                    if (t.tid() != pid) {
                        t.read();
                    }
                    t.readTraced(null); // the remote path: no kernel rows
                }
                ThreadState.readRemoteAll(threads, site, scratch, 64, true, frames, maps);
                ThreadState.awaitPlain(plain, pid);
                for (ThreadState t : threads) {
                    t.settle(); // the dump waits for these stops before it lets the threads go: counted here too
                }
                return threads;
            } catch (SyscallException | IOException e) {
                throw new CryoException(e.getMessage(), e);
            }
        });
    }
}
