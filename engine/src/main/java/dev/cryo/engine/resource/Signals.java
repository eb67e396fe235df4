package dev.cryo.engine.resource;

import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.RemoteReads;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.sa_entry;
import dev.cryo.image.proto.siginfo_entry;
import dev.cryo.image.proto.signal_queue_entry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Signal dispositions and queued signals. Handlers have no interface but rt_sigaction in the task itself, so
 * both directions run remote syscalls; only caught signals need one on dump (the rest are SIG_DFL or SIG_IGN as
 * /proc says).
 */
public final class Signals {
    static final int SIGKILL = 9, SIGSTOP = 19, NSIG = 64, SIGACTION_SIZE = 32;

    private Signals() {
    }

    /** The signals an sa_entry list covers, in order: 1..64 without SIGKILL and SIGSTOP (as CRIU writes them). */
    public static List<Integer> numbered() {
        List<Integer> s = new ArrayList<>();
        for (int sig = 1; sig <= NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) {
                s.add(sig);
            }
        }
        return s;
    }

    /**
     * The task's dispositions: one rt_sigaction per caught signal, added to {@code reads} (handlers have no other
     * interface); the others are SIG_DFL or SIG_IGN as /proc says. Its structs take {@link #dumpBytes} of scratch.
     */
    public static RemoteReads.Later<List<sa_entry>> dumpActions(RemoteReads reads, long caught, long ignored) {
        int[] index = new int[NSIG + 1];
        long[] at = new long[NSIG + 1];
        for (int sig = 1; sig <= NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP && (caught & (1L << (sig - 1))) != 0) {
                at[sig] = reads.out(SIGACTION_SIZE);
                index[sig] = reads.call("rt_sigaction(" + sig + ")", Syscall.RT_SIGACTION, sig, 0, at[sig], 8);
            }
        }
        return () -> {
            List<sa_entry> out = new ArrayList<>(NSIG - 2);
            for (int sig = 1; sig <= NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP) {
                    continue;
                }
                long bit = 1L << (sig - 1);
                if ((caught & bit) != 0) {
                    reads.result(index[sig]);
                    ByteBuffer b = reads.at(at[sig], SIGACTION_SIZE);
                    out.add(sa_entry.newBuilder().setSigaction(b.getLong(0)).setFlags(b.getLong(8))
                            .setRestorer(b.getLong(16)).setMask(b.getLong(24)).setCompatSigaction(false).build());
                } else {
                    out.add((ignored & bit) != 0 ? IGNORED : DEFAULT); // messages are immutable: one of each serves all
                }
            }
            return out;
        };
    }

    /** Scratch bytes {@link #dumpActions} needs for the handlers of {@code caught}. */
    public static int dumpBytes(long caught) {
        long stoppable = caught & ~(1L << (SIGKILL - 1)) & ~(1L << (SIGSTOP - 1));
        return Long.bitCount(stoppable) * SIGACTION_SIZE;
    }

    private static final sa_entry DEFAULT = sa_entry.newBuilder().setSigaction(0).setFlags(0).setRestorer(0).setMask(0)
            .setCompatSigaction(false).build();
    private static final sa_entry IGNORED = DEFAULT.toBuilder().setSigaction(1).build();

    public static void restoreActions(RemoteSyscall remote, RemoteScratch scratch, int offset, List<sa_entry> actions)
            throws SyscallException {
        List<Integer> sigs = numbered();
        for (int i = 0; i < actions.size() && i < sigs.size(); i++) {
            sa_entry a = actions.get(i);
            if (a.getSigaction() == 0 && a.getFlags() == 0 && a.getMask() == 0) {
                continue; // SIG_DFL, as the helper the task is cloned from has every signal (HelperProcess)
            }
            ByteBuffer b = ByteBuffer.allocate(SIGACTION_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(0, a.getSigaction()).putLong(8, a.getFlags()).putLong(16, a.getRestorer()).putLong(24, a.getMask());
            scratch.write(offset, b.array());
            remote.call("rt_sigaction(" + sigs.get(i) + ")", Syscall.RT_SIGACTION, sigs.get(i),
                    scratch.address() + offset, 0, 8);
        }
    }

    public static signal_queue_entry dumpQueue(int pid, boolean shared) throws SyscallException {
        return queueEntry(Ptrace.pendingSignals(pid, shared));
    }

    /** The image's entry of a queue's raw siginfos, as {@link Ptrace#pendingSignals} reads them. */
    public static signal_queue_entry queueEntry(java.util.List<byte[]> siginfos) {
        var q = signal_queue_entry.newBuilder();
        for (byte[] info : siginfos) {
            q.addSignals(siginfo_entry.newBuilder().setSiginfo(com.google.protobuf.ByteString.copyFrom(info)));
        }
        return q.build();
    }

    /** Queues each siginfo of the process-wide queue (a task may queue any siginfo to its own process). */
    public static void restoreShared(RemoteSyscall remote, RemoteScratch scratch, int offset, int pid,
                                     signal_queue_entry q) throws SyscallException {
        restore(remote, scratch, offset, pid, pid, q, true);
    }

    /** Queues each siginfo of one thread's private queue, run in that thread itself (from outside it is EPERM). */
    public static void restoreQueue(RemoteSyscall inThread, RemoteScratch scratch, int offset, int pid, int tid,
                                    signal_queue_entry q) throws SyscallException {
        restore(inThread, scratch, offset, pid, tid, q, false);
    }

    private static void restore(RemoteSyscall remote, RemoteScratch scratch, int offset, int pid, int tid,
                                signal_queue_entry q, boolean shared) throws SyscallException {
        for (siginfo_entry s : q.getSignalsList()) {
            byte[] info = s.getSiginfo().toByteArray();
            int signo = ByteBuffer.wrap(info).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
            scratch.write(offset, info);
            if (shared) {
                remote.call("rt_sigqueueinfo(" + signo + ")", Syscall.RT_SIGQUEUEINFO, pid, signo, scratch.address() + offset);
            } else {
                remote.call("rt_tgsigqueueinfo(" + tid + ", " + signo + ")", Syscall.RT_TGSIGQUEUEINFO, pid, tid, signo,
                        scratch.address() + offset);
            }
        }
    }
}
