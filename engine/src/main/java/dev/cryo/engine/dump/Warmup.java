package dev.cryo.engine.dump;

import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageMapScanner;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.resource.FpuState;
import dev.cryo.engine.resource.TaskResources;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.*;

import java.util.List;
import java.util.Set;

/**
 * Pays the JVM's one-time costs (class loading, JNR stub generation, protobuf descriptors) before the target is
 * frozen, by running the same code paths on Cryo's own process. Keeps the frozen time to the real work.
 */
final class Warmup {
    private Warmup() {
    }

    static void run() {
        int self = (int) ProcessHandle.current().pid();
        try {
            int nobody = 0x3ffffff0; // above any pid_max: every request fails with ESRCH/ECHILD
            tryIgnore(() -> Ptrace.registers(nobody));
            tryIgnore(() -> Ptrace.sigmask(nobody));
            tryIgnore(() -> Ptrace.xstate(nobody));
            tryIgnore(() -> Ptrace.pendingSignals(nobody, false));
            tryIgnore(() -> Ptrace.rseqConfiguration(nobody));
            tryIgnore(() -> Ptrace.poll(nobody));
            ProcFs proc = new ProcFs();
            proc.stat(self);
            proc.status(self);
            proc.fds(self);
            proc.auxv(self);
            List<MapsEntry> maps = proc.maps(self);
            MapsEntry first = maps.stream().filter(m -> m.read() && !m.isKernelSpecial()).findFirst().orElseThrow();
            List<PageRun> runs;
            try (PageMapScanner scanner = new PageMapScanner(self)) {
                runs = scanner.ownPages(first);
            }
            List<PageRun> one = List.of(new PageRun(first.start(), 1));
            PageBuffer.forRuns(one).readFrom(new RemoteMemory(self), Set.of());
            TaskResources.rlimits(self);
            TaskResources.timens();
            core_entry core = core_entry.newBuilder().setMtype(core_entry.march.X86_64)
                    .setThreadInfo(thread_info_x86.newBuilder().setClearTidAddr(0)
                            .setGpregs(DumpRun.gpregsOf(new Registers(new long[Registers.COUNT])))
                            .setFpregs(FpuState.toImage(new byte[4096])))
                    .setTc(task_core_entry.newBuilder().setTaskState(1).setExitCode(0).setPersonality(0).setFlags(0)
                            .setBlkSigset(0).setComm("x").addSigactions(sa_entry.newBuilder().setSigaction(0)
                                    .setFlags(0).setRestorer(0).setMask(0)))
                    .build();
            ImageFile.of("CORE", List.of(core)).toBytes();
            ImageFile.of("MM", List.of(mm_entry.newBuilder().setMmStartCode(0).setMmEndCode(0).setMmStartData(0)
                    .setMmEndData(0).setMmStartStack(0).setMmStartBrk(0).setMmBrk(0).setMmArgStart(0)
                    .setMmArgEnd(0).setMmEnvStart(0).setMmEnvEnd(0).setExeFileId(1).build())).toBytes();
            ImageFile.of("PAGEMAP", List.of(pagemap_head.newBuilder().setPagesId(1).build(),
                    PageMap.entry(0, runs.isEmpty() ? 1 : runs.get(0).pages(), PageMap.PE_PRESENT))).toBytes();
            ImageFile.of("FILES", List.of(file_entry.newBuilder().setType(fd_types.REG).setId(1).build())).toBytes();
            ImageFile.of("FDINFO", List.of(fdinfo_entry.newBuilder().setId(1).setFlags(0).setType(fd_types.REG)
                    .setFd(0).build())).toBytes();
        } catch (Exception | Error e) {
            // warming is best effort; the dump itself reports real failures
        }
    }

    interface Attempt {
        Object run() throws SyscallException;
    }

    private static void tryIgnore(Attempt a) {
        try {
            a.run();
        } catch (SyscallException expected) {
            // the call's binding is what we wanted
        }
    }
}
