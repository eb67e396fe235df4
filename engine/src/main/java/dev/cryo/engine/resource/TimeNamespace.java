package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.timens_entry;
import dev.cryo.image.proto.timespec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * A tree's time namespace (CLOCK_MONOTONIC and CLOCK_BOOTTIME as offsets from the host's, {@code unshare --time}, or a
 * tree CRIU restored). timens-0.img holds both clocks as the tree saw them at the dump, as CRIU writes it (timens-ID.img,
 * ID its ids' time_ns_id, for a tree in a time namespace of its own). A tree comes
 * back in a new time namespace whose offsets make its clocks go on from the values of the image, as CRIU's restore
 * does: no jump, whatever the host's clocks say now (another machine's, booted later, included), and a deadline on
 * them keeps its distance. Where no time namespace can be made (a kernel without them, a restorer without the right),
 * a tree that shared its dumper's namespace comes back in the restorer's, with a warning; one that had its own (its
 * ids name another time namespace than inventory.img's root_ids) is refused. One namespace per tree: at the dump a
 * task in another than its root's is refused.
 */
public final class TimeNamespace {
    static final long CLONE_NEWTIME = 0x00000080L;
    private static final int UNSHARE = 272;
    private static final int CLOCK_MONOTONIC = 1, CLOCK_BOOTTIME = 7;

    /** Offsets of a namespace, in ns: {monotonic, boottime}; zero for the host's. */
    public record Offsets(long monotonicNanos, long boottimeNanos) {
        public static final Offsets NONE = new Offsets(0, 0);
    }

    private TimeNamespace() {
    }

    /** Whether this kernel has time namespaces. */
    public static boolean available() {
        return Files.exists(Path.of("/proc/self/ns/time"), LinkOption.NOFOLLOW_LINKS);
    }

    /** The link of pid's time namespace ("time:[INODE]"), or null on a kernel without time namespaces. */
    public static String of(int pid) throws IOException {
        return link(pid == 0 ? "self" : Integer.toString(pid), "time");
    }

    /** The time namespace pid's children are made in ("time:[INODE]"), or null without time namespaces. */
    public static String forChildren(int pid) throws IOException {
        return link(Integer.toString(pid), "time_for_children");
    }

    /** /proc/PID/ns/NAME read as the other /proc links are (one readlink, no NIO); null where there is none. */
    private static String link(String pid, String name) throws IOException {
        try {
            return dev.cryo.engine.sys.DirectFiles.readLink("/proc/" + pid + "/ns/" + name);
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        }
    }

    /** Whether pid lives in another time namespace than Cryo. */
    public static boolean own(int pid) throws IOException {
        String theirs = of(pid);
        return theirs != null && !theirs.equals(of(0));
    }

    /**
     * The offsets of pid's time namespace, from /proc/PID/timens_offsets (which shows its children's namespace: the
     * same, as the dump's checks require); zero in Cryo's.
     */
    public static Offsets offsets(int pid) throws IOException {
        long mono = 0, boot = 0;
        for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "timens_offsets"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length != 3) {
                continue;
            }
            long nanos = Long.parseLong(f[1]) * 1_000_000_000L + Long.parseLong(f[2]);
            switch (f[0]) {
                case "monotonic", "1" -> mono = nanos;
                case "boottime", "7" -> boot = nanos;
                default -> {
                }
            }
        }
        return new Offsets(mono, boot);
    }

    /** timens-N.img's entry: both clocks now, as a task in a namespace with {@code offsets} reads them. */
    public static timens_entry entry(Offsets offsets) {
        return timens_entry.newBuilder().setMonotonic(spec(now(CLOCK_MONOTONIC) + offsets.monotonicNanos()))
                .setBoottime(spec(now(CLOCK_BOOTTIME) + offsets.boottimeNanos())).build();
    }

    /**
     * Before the root is cloned from the helper: the helper unshares a time namespace, which its children enter, and
     * its offsets are set so that both clocks read the image's values now. Nothing has entered it yet: the offsets
     * can only be written before that.
     */
    public static void prepare(RemoteSyscall helper, int helperPid, timens_entry image, Log log)
            throws CryoException, SyscallException {
        helper.call("unshare(CLONE_NEWTIME)", UNSHARE, CLONE_NEWTIME);
        long mono = nanos(image.getMonotonic()) - now(CLOCK_MONOTONIC);
        long boot = nanos(image.getBoottime()) - now(CLOCK_BOOTTIME);
        String text = "monotonic " + line(mono) + "\nboottime " + line(boot) + "\n";
        Path file = Path.of("/proc", Integer.toString(helperPid), "timens_offsets");
        try {
            Files.write(file, text.getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new CryoException("cannot set the offsets of the tree's time namespace (" + file + ": "
                    + e.getMessage() + "): its clocks would jump");
        }
        log.info("time namespace made: monotonic offset %d ns, boottime offset %d ns (its clocks go on from the image's)",
                mono, boot);
    }

    /** "SECONDS NANOSECONDS" with 0 <= NANOSECONDS < 1e9, as timens_offsets takes a negative offset. */
    private static String line(long nanos) {
        return Math.floorDiv(nanos, 1_000_000_000L) + " " + Math.floorMod(nanos, 1_000_000_000L);
    }

    private static long nanos(timespec t) {
        return t.getTvSec() * 1_000_000_000L + t.getTvNsec();
    }

    private static timespec spec(long nanos) {
        return timespec.newBuilder().setTvSec(nanos / 1_000_000_000L).setTvNsec(nanos % 1_000_000_000L).build();
    }

    /** A clock of Cryo's own namespace, in ns. */
    private static long now(int clock) {
        NativeBuffer b = NativeBuffer.allocate(16);
        Syscall.raw(TaskResources.CLOCK_GETTIME, clock, b.address());
        return b.getLong(0) * 1_000_000_000L + b.getLong(8);
    }
}
