package dev.cryo.engine.sys;

/**
 * The engine's thread and the tasks it drives by ptrace, kept on one CPU while it drives them.
 *
 * <p>A remote syscall is a round trip: the tracer sets registers and resumes the tracee, the tracee runs to its next
 * stop, and the tracer wakes. On a VM, a tracee woken on the other CPU costs an inter-processor interrupt both ways
 * ({@code RemoteSyscallBench.remoteGetpid} on this project's 2-CPU VM: 54 µs a call with both left to the scheduler,
 * 7.8 µs with both on one CPU). A restore makes about ninety such calls a task. So the restoring thread pins itself
 * to the CPU it runs on, the tasks it makes inherit that mask from its helper, and each task's threads get the
 * caller's own mask back before they run: the mask a task of the tree would have had without this. The engine's
 * other threads (pages, the JIT) keep every CPU; one the pinned thread starts takes them back
 * ({@link #unpinInherited}).
 *
 * <p>One difference remains: a mask set with sched_setaffinity is also the task's "requested" mask, which the kernel
 * intersects with its cpuset's CPUs when the cpuset changes later; a task that never set one simply takes the new
 * cpuset's. Given back the restorer's full mask, as here, the two behave alike unless the restorer itself ran on
 * fewer CPUs than the machine has.
 *
 * <p>Best effort: where the mask cannot be read or set, or only one CPU is allowed, nothing is pinned and nothing
 * is given back. {@code -Dcryo.pin=off} turns it off (A/B runs). A dump does not pin: its target's mask is not Cryo's
 * to change.
 */
public final class CpuPin implements AutoCloseable {
    static final int SCHED_SETAFFINITY = 203, SCHED_GETAFFINITY = 204, GETCPU = 309;
    /** Room for 1024 CPUs, as glibc's cpu_set_t. */
    private static final int MASK_BYTES = 128;
    private static final CpuPin NONE = new CpuPin(null, null);

    /** The caller's mask before the pin (null: nothing pinned), and the pinned one. */
    private final NativeBuffer original;
    private final NativeBuffer pinned;

    private CpuPin(NativeBuffer original, NativeBuffer pinned) {
        this.original = original;
        this.pinned = pinned;
    }

    /** The pin in force (one restore at a time pins), for the threads its thread starts: see {@link #unpinInherited}. */
    private static volatile CpuPin active;

    /**
     * A thread inherits its creator's mask: a worker that the pinned thread starts (pages copied on several threads)
     * calls this first to work on the CPUs the pin took from it; the pinned thread itself, for work that drives no
     * task ({@link #repin} after). Nothing when no pin is in force.
     */
    public static void unpinInherited() {
        CpuPin p = active;
        if (p != null && p.original != null) {
            Syscall.raw(SCHED_SETAFFINITY, 0, MASK_BYTES, p.original.address());
        }
    }

    /**
     * The CPUs the engine may use: the JVM's count reads the calling thread's mask, which is one CPU on a pinned
     * thread (and on any thread it started); with a pin in force, the count of the mask it took.
     */
    public static int processors() {
        CpuPin p = active;
        return p != null && p.original != null ? count(p.original) : Runtime.getRuntime().availableProcessors();
    }

    /**
     * A worker that the pinned thread starts and that drives no task: on the CPUs the pin took from it but the pinned
     * one, which the tracer and its tasks keep busy ({@link #unpinInherited} where no other is left).
     */
    public static void awayFromPin() {
        CpuPin p = active;
        if (p == null || p.original == null || p.pinned == null) {
            return;
        }
        NativeBuffer others = NativeBuffer.allocate(MASK_BYTES);
        for (int i = 0; i < MASK_BYTES; i += 8) {
            others.putLong(i, p.original.getLong(i) & ~p.pinned.getLong(i));
        }
        NativeBuffer mask = count(others) > 0 ? others : p.original;
        Syscall.raw(SCHED_SETAFFINITY, 0, MASK_BYTES, mask.address());
    }

    /** The pinned thread, after {@link #unpinInherited} for a stretch of work of its own: back on its CPU. */
    public static void repin() {
        CpuPin p = active;
        if (p != null && p.pinned != null) {
            Syscall.raw(SCHED_SETAFFINITY, 0, MASK_BYTES, p.pinned.address());
        }
    }

    /** Pins the calling thread to the CPU it is on now; {@link #close} gives its mask back. */
    public static CpuPin here() {
        if ("off".equals(System.getProperty("cryo.pin"))) {
            return NONE;
        }
        NativeBuffer mask = NativeBuffer.allocate(MASK_BYTES);
        mask.zero(0, MASK_BYTES);
        long size = Syscall.raw(SCHED_GETAFFINITY, 0, MASK_BYTES, mask.address());
        NativeBuffer cpu = NativeBuffer.allocate(8);
        if (size <= 0 || Syscall.raw(GETCPU, cpu.address(), 0, 0) != 0) {
            return NONE;
        }
        int at = cpu.getInt(0);
        if (at < 0 || at >= MASK_BYTES * 8 || !has(mask, at) || count(mask) < 2) {
            return NONE;
        }
        NativeBuffer one = NativeBuffer.allocate(MASK_BYTES);
        one.zero(0, MASK_BYTES);
        one.putLong(at / 64 * 8, 1L << (at % 64));
        if (Syscall.raw(SCHED_SETAFFINITY, 0, MASK_BYTES, one.address()) != 0) {
            return NONE;
        }
        CpuPin p = new CpuPin(mask, one);
        active = p;
        return p;
    }

    /** Nothing pinned: what a run holds before it pins. */
    public static CpuPin none() {
        return NONE;
    }

    /** Whether the calling thread was pinned. */
    public boolean active() {
        return original != null;
    }

    /** The CPU pinned to, or -1. */
    public int cpu() {
        if (pinned == null) {
            return -1;
        }
        for (int i = 0; i < MASK_BYTES * 8; i++) {
            if (has(pinned, i)) {
                return i;
            }
        }
        return -1;
    }

    /** Pins {@code tid} (a task or thread the engine made) with the caller; its children inherit the pin. */
    public void apply(int tid) {
        if (pinned != null) {
            Syscall.raw(SCHED_SETAFFINITY, tid, MASK_BYTES, pinned.address());
        }
    }

    /**
     * {@code tid} gets the caller's mask from before the pin. Returns 0, or -errno (a task gone, or a cpuset that
     * allows none of those CPUs: it keeps what its cgroup gave it).
     */
    public long giveBack(int tid) {
        if (original == null) {
            return 0;
        }
        return Syscall.raw(SCHED_SETAFFINITY, tid, MASK_BYTES, original.address());
    }

    /** The calling thread, the one {@link #here} pinned, gets its own mask back. */
    @Override
    public void close() {
        giveBack(0);
        if (active == this) {
            active = null;
        }
    }

    private static boolean has(NativeBuffer mask, int cpu) {
        return (mask.getLong(cpu / 64 * 8) & (1L << (cpu % 64))) != 0;
    }

    private static int count(NativeBuffer mask) {
        int n = 0;
        for (int i = 0; i < MASK_BYTES; i += 8) {
            n += Long.bitCount(mask.getLong(i));
        }
        return n;
    }
}
