package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A unix socket connected to a socket outside the dumped tree: refused, or with --ext-unix-sk reconnected. */
@RootWithPtrace
class ExternalUnixSocketTest {
    @TempDir
    Path tmp;

    /** Connects a socket of type argv[2] to the path argv[1]; on "go" sends "after" through it. */
    static final String CLIENT = """
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/un.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct sockaddr_un a = { .sun_family = AF_UNIX };
                strcpy(a.sun_path, argv[1]);
                int s = socket(AF_UNIX, strcmp(argv[2], "dgram") ? SOCK_STREAM : SOCK_DGRAM, 0);
                if (connect(s, (void *)&a, sizeof a)) { perror("connect"); return 1; }
                send(s, "before", 6, 0);
                printf("ready\\n");
                while (access("go", F_OK) != 0) usleep(1000);
                printf(send(s, "after", 5, 0) == 5 ? "sent\\n" : "FAIL send\\n");
                while (1) pause();
            }
            """;

    private DumpOptions options(int pid, boolean extUnixSk) {
        return new DumpOptions(pid, tmp.resolve("img"), false, false, true, false, extUnixSk, false, null, null, null);
    }

    @Test
    void streamToAnOutsidePeerIsRefusedEvenWithExtUnixSk() throws Exception {
        Path exe = CProgram.compile(tmp, "client", CLIENT);
        Path path = tmp.resolve("server.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            try (Target t = Target.start(exe, tmp.resolve("out.txt"), path.toString(), "stream");
                 SocketChannel accepted = server.accept()) {
                t.awaitLines(1);
                CryoException plain = assertThrows(CryoException.class, () -> Checkpoint.dump(options(t.pid(), false)));
                assertTrue(plain.getMessage().matches("cannot dump pid " + t.pid() + ": fd 3 \\(unix stream socket "
                        + "socket:\\[\\d+\\]\\) is connected to socket:\\[\\d+\\] \\(" + path
                        // a process the JVM is spawning meanwhile holds the JVM's fds until its exec: named if seen
                        + "\\)(, held by pid \\d+)?, which is outside the dumped tree; "
                        + "a unix stream connection cannot be restored without "
                        + "its other end: dump with --external unix\\[\\d+\\] and restore with --inherit-fd "
                        + "fd\\[N\\]:socket:\\[\\d+\\].*"), plain.getMessage());
                CryoException ext = assertThrows(CryoException.class, () -> Checkpoint.dump(options(t.pid(), true)));
                assertTrue(ext.getMessage().contains("(--ext-unix-sk is not enough)"), ext.getMessage());
                Files.createFile(tmp.resolve("go"));
                t.awaitLines(2);
                assertEquals(List.of("ready", "sent"), t.lines(), "the refused process runs on untouched");
            }
        }
    }

    /**
     * As CRIU: a stream socket named with --external unix[INO] is dumped whatever its other end; the restore refuses
     * it without --inherit-fd fd[N]:socket:[INO] (leaving nothing), and with it the restorer's fd N is the socket.
     */
    @Test
    void streamNamedExternalComesBackThroughInheritFd() throws Exception {
        Path exe = CProgram.compile(tmp, "client", CLIENT);
        Path path = tmp.resolve("server.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            try (Target t = Target.start(exe, tmp.resolve("out.txt"), path.toString(), "stream");
                 SocketChannel accepted = server.accept()) {
                t.awaitLines(1);
                String link = Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/fd/3")).toString();
                String ino = link.substring("socket:[".length(), link.length() - 1);
                var files = dev.cryo.engine.resource.FileOptions.DEFAULTS.withExternal(List.of("unix[" + ino + "]"));
                Checkpoint.dump(new DumpOptions(t.pid(), tmp.resolve("img"), false, false, true, false, false, false,
                        null, null, null, files, false, false, false, "nftables", List.of()));
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());

                CryoException missing = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("img")));
                assertTrue(missing.getMessage().contains("restore with --inherit-fd fd[N]:socket:[" + ino + "]"),
                        missing.getMessage());
                assertTrue(!t.alive(), "nothing restored by the refused restore");

                SocketFd[] pair = SocketFd.pair(SocketFd.SOCK_STREAM);
                try {
                    var inherit = new dev.cryo.engine.resource.FileOptions(false, false,
                            dev.cryo.engine.resource.FileOptions.DEFAULT_GHOST_LIMIT, false,
                            List.of(new dev.cryo.engine.resource.FileOptions.InheritFd(pair[0].fd(), "socket:[" + ino + "]")),
                            List.of(), false, "buildid", false, false, List.of());
                    Checkpoint.restore(new dev.cryo.engine.restore.RestoreOptions(tmp.resolve("img"), true, true, false,
                            null, null, inherit, false, "nftables", List.of()));
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(2);
                    assertEquals(List.of("ready", "sent"), t.lines());
                    assertEquals("after", new String(receive(pair[1])), "the restored socket is the inherited one");
                } finally {
                    pair[0].close();
                    pair[1].close();
                }
            }
        }
    }

    @Test
    void datagramToAnOutsideNameIsReconnectedWithExtUnixSk() throws Exception {
        Path exe = CProgram.compile(tmp, "client", CLIENT);
        Path path = tmp.resolve("log.sock");
        try (SocketFd server = SocketFd.open(SockAddr.AF_UNIX, SocketFd.SOCK_DGRAM, 0)) {
            server.bind(new SockAddr(SockAddr.AF_UNIX, path.toString().getBytes(StandardCharsets.UTF_8), 0));
            try (Target t = Target.start(exe, tmp.resolve("out.txt"), path.toString(), "dgram")) {
                t.awaitLines(1);
                CryoException plain = assertThrows(CryoException.class, () -> Checkpoint.dump(options(t.pid(), false)));
                assertTrue(plain.getMessage().contains("is outside the dumped tree; use --ext-unix-sk to dump it anyway "
                        + "(it is reconnected to that name on restore)"), plain.getMessage());
                assertEquals("before", new String(receive(server)), "the refused dump left the process as it was");
                Checkpoint.dump(options(t.pid(), true));
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                Checkpoint.restore(tmp.resolve("img"));
                Files.createFile(tmp.resolve("go"));
                t.awaitLines(2);
                assertEquals(List.of("ready", "sent"), t.lines());
                assertEquals("after", new String(receive(server)), "the restored socket reached the same receiver");
            }
        }
    }

    private static byte[] receive(SocketFd s) throws Exception {
        byte[][] got = new byte[1][];
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            try {
                got[0] = s.peek(64);
                return true;
            } catch (dev.cryo.engine.sys.SyscallException e) {
                return false;
            }
        });
        // consume it
        dev.cryo.engine.sys.NativeBuffer b = dev.cryo.engine.sys.NativeBuffer.allocate(64);
        dev.cryo.engine.sys.Syscall.call("recv", dev.cryo.engine.sys.Syscall.RECVFROM, s.fd(), b.address(), 64, 0, 0, 0);
        return got[0];
    }
}
