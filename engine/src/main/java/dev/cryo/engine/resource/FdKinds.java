package dev.cryo.engine.resource;

import dev.cryo.engine.proc.FdInfo;
import dev.cryo.image.proto.fd_types;

import java.util.List;
import java.util.Optional;

/** The registry of fd kinds the engine can checkpoint. Adding a kind means adding a class and a row here. */
public final class FdKinds {
    private static final List<FdKind> ALL = List.of(new Memfd(), new Fifo(), new Tty(), new RegularFile(), new Pipe(), new InetSocket(), new UnixSocket(), new NetlinkSocket(), new PacketSocket(),
            new EventFd(), new EventPoll(), new TimerFd(), new SignalFd(), new Inotify(), new Fanotify(), new Pidfd(),
            new NamespaceFile());

    private FdKinds() {
    }

    public static Optional<FdKind> of(FdInfo fd) {
        return ALL.stream().filter(k -> k.accepts(fd)).findFirst();
    }

    public static Optional<FdKind> of(fd_types type) {
        return ALL.stream().filter(k -> k.type() == type).findFirst();
    }

    /** Words a user understands for an fd nobody accepts. */
    public static String describe(FdInfo fd) {
        String t = fd.target();
        if (t.startsWith("socket:")) {
            String protocol = fd.extra().getOrDefault("sockproto", "");
            return "a socket (" + t + (protocol.isEmpty() ? "" : ", protocol " + protocol) + "), which Cryo cannot dump yet";
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
