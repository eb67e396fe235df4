package dev.cryo.bench.macro;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What this machine can do at best, measured in the same run as the tools, so each tool's figures can be shown
 * as a fraction of it: how fast process_vm_readv / process_vm_writev move memory, and how fast a directory takes
 * writes as dd measures them.
 */
public final class MachineLimits {
    static final int PROBE_REPS = 5;
    static final int DD_REPS = 3;
    static final long MIB = 1 << 20;

    private MachineLimits() {
    }

    /** Bytes per second of one direction of process_vm_*v, with the method stated. */
    public record VmCopy(double readvBytesPerSec, double writevBytesPerSec, String method) {
        /** The better of two probes of the same thing: load on a shared machine only ever slows a probe down. */
        public VmCopy best(VmCopy other) {
            return new VmCopy(Math.max(readvBytesPerSec, other.readvBytesPerSec),
                    Math.max(writevBytesPerSec, other.writevBytesPerSec), method.replace("best of " + PROBE_REPS, "best of " + PROBE_REPS
                    + " at the start and " + PROBE_REPS + " at the end"));
        }
    }

    /** Bytes per second of dd writing into one directory. */
    public record DirWrite(double bytesPerSec, String command, String fsType) {
        public DirWrite best(DirWrite other) {
            return new DirWrite(Math.max(bytesPerSec, other.bytesPerSec), command, fsType);
        }
    }

    /**
     * process_vm_readv and process_vm_writev between two {@code mib} MiB buffers of this JVM (its own pid: the
     * kernel copies through the same remote-mm path as for another process), 1 MiB per iovec, up to 1024 iovecs
     * a call, both buffers faulted in first. The best of {@value #PROBE_REPS} after one warm-up: a limit is what
     * the machine can do, and other load only ever makes a probe slower.
     */
    public static VmCopy vmCopy(int mib) throws SyscallException {
        int bytes = (int) (mib * MIB);
        NativeBuffer remote = NativeBuffer.allocate(bytes);
        NativeBuffer local = NativeBuffer.allocate(bytes);
        for (int off = 0; off < bytes; off += 4096) {
            remote.putLong(off, off);
            local.putLong(off, ~off);
        }
        RemoteMemory self = new RemoteMemory((int) ProcessHandle.current().pid());
        long[] addrs = new long[mib];
        long[] lens = new long[mib];
        for (int i = 0; i < mib; i++) {
            addrs[i] = remote.address() + i * MIB;
            lens[i] = MIB;
        }
        double read = rate(bytes, () -> self.transfer(false, local.address(), addrs, lens, mib));
        double write = rate(bytes, () -> self.transfer(true, local.address(), addrs, lens, mib));
        return new VmCopy(read, write, "process_vm_readv/writev via JNR syscall(310/311), this JVM's own pid, "
                + mib + " MiB per call as 1 MiB iovecs, best of " + PROBE_REPS);
    }

    private interface Copy {
        void run() throws SyscallException;
    }

    private static double rate(long bytes, Copy copy) throws SyscallException {
        copy.run();
        double[] rates = new double[PROBE_REPS];
        for (int i = 0; i < PROBE_REPS; i++) {
            long t0 = System.nanoTime();
            copy.run();
            rates[i] = bytes / ((System.nanoTime() - t0) / 1e9);
        }
        return Arrays.stream(rates).max().orElseThrow();
    }

    /**
     * {@code dd if=/dev/zero of=DIR/dd-probe bs=1M count=MIB conv=fdatasync}, the rate dd itself reports (bytes
     * over its own elapsed time, data synced before it stops the clock). The best of {@value #DD_REPS}.
     */
    public static DirWrite ddWrite(TargetDir dir, int mib) throws IOException {
        Path file = dir.path().resolve("dd-probe");
        List<String> cmd = List.of("dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=" + mib, "conv=fdatasync");
        double[] rates = new double[DD_REPS];
        try {
            for (int i = 0; i < DD_REPS; i++) {
                Files.deleteIfExists(file);
                ProcessResult r = ProcessResult.run(cmd, 600);
                if (r.exitCode() != 0) {
                    throw new IOException("dd into " + dir.path() + " failed: " + r.lastLine());
                }
                rates[i] = parseDdRate(r.output());
            }
        } finally {
            Files.deleteIfExists(file);
        }
        return new DirWrite(Arrays.stream(rates).max().orElseThrow(), String.join(" ", cmd), dir.fsType());
    }

    private static final Pattern DD_SUMMARY = Pattern.compile("(\\d+) bytes .*copied, ([0-9.,e+-]+) s");

    /** Bytes over seconds from dd's summary line ("268435456 bytes (268 MB, 256 MiB) copied, 0.08 s, 3.2 GB/s"). */
    static double parseDdRate(String output) throws IOException {
        Matcher m = DD_SUMMARY.matcher(output);
        if (!m.find()) {
            throw new IOException("cannot read dd's summary line in: " + output.strip());
        }
        double seconds = Double.parseDouble(m.group(2).replace(',', '.'));
        return Long.parseLong(m.group(1)) / seconds;
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    static double median(List<Double> values) {
        double[] v = new double[values.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = values.get(i);
        }
        return v.length == 0 ? Double.NaN : median(v);
    }
}
