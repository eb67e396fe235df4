package dev.cryo.engine.resource;

import dev.cryo.engine.proc.FdInfo;
import dev.cryo.image.proto.fd_types;

import java.util.List;
import java.util.Optional;

/** The registry of fd kinds the engine can checkpoint. Adding a kind means adding a class and a row here. */
public final class FdKinds {
    private static final List<FdKind> ALL = List.of(new Memfd(), new Fifo(), new Tty(), new RegularFile(), new Pipe(), new InetSocket(), new UnixSocket(), new NetlinkSocket(), new PacketSocket(),
            new EventFd(), new EventPoll(), new TimerFd(), new SignalFd(), new Inotify(), new Pidfd());

    private FdKinds() {
    }

    public static Optional<FdKind> of(FdInfo fd) {
        return ALL.stream().filter(k -> k.accepts(fd)).findFirst();
    }

    public static Optional<FdKind> of(fd_types type) {
        return ALL.stream().filter(k -> k.type() == type).findFirst();
    }

    static final int O_ASYNC = 020000;

    /**
     * What the restore will not give back of an fd set for signal-driven I/O (O_ASYNC), or null: its owner and
     * signal (F_SETOWN, F_SETSIG) are not kept yet, so after the restore it sends no SIGIO (nginx sets it on its
     * channels to the workers, and wakes on the channel's own events as well).
     */
    public static String asyncWarning(dev.cryo.engine.proc.FdInfo fd) {
        if ((fd.flags() & O_ASYNC) == 0) {
            return null;
        }
        return "fd " + fd.fd() + " (" + fd.target() + ") is set for signal-driven I/O (O_ASYNC): its owner (F_SETOWN) "
                + "is not kept yet, so it sends no SIGIO after the restore";
    }

    /** Words a user understands for an fd nobody accepts. */
    public static String describe(FdInfo fd) {
        String t = fd.target();
        if (t.startsWith("socket:")) {
            return "a socket (" + t + "), which Cryo cannot dump yet";
        }
        if (t.startsWith("anon_inode:")) {
            String kind = t.substring("anon_inode:".length()).replace("[", "").replace("]", "");
            // "an io_uring", "a userfaultfd", "a perf_event"
            String article = !kind.isEmpty() && "aeio".indexOf(Character.toLowerCase(kind.charAt(0))) >= 0 ? "an " : "a ";
            return article + kind + " instance (" + t + "), which Cryo cannot dump yet";
        }
        return t + ", a kind of file Cryo cannot dump yet";
    }
}
