package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --tcp-established refusals, -R and --tcp-close, and the lock left behind by none of them. */
@RootWithPtrace
class TcpOptionsTest {
    @TempDir
    Path tmp;

    interface Body {
        void run(Target t, StreamPeer peer, StreamSession s, SocketChannel raw) throws Exception;
    }

    private void withConnection(Body body) throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "stream", StreamPrograms.STREAM);
                try (ServerSocketChannel server = ServerSocketChannel.open()) {
                    server.setOption(StandardSocketOptions.SO_RCVBUF, 8192);
                    server.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
                    int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
                    try (Target t = Target.start(exe, tmp.resolve("out.txt"), Integer.toString(port), "4")) {
                        SocketChannel c = server.accept();
                        try (StreamPeer peer = new StreamPeer(c)) {
                            body.run(t, peer, new StreamSession(tmp, t, peer), c);
                        }
                    }
                }
            });
            assertTrue(net.cryoTables().isEmpty(), "no Cryo nftables table is left: " + net.cryoTables());
        }
    }

    private static DumpOptions dump(Path img, int pid, boolean leaveRunning, boolean tcpEstablished) {
        return new DumpOptions(pid, img, false, leaveRunning, true, tcpEstablished, false, false, null, null, null);
    }

    @Test
    void establishedConnectionIsRefusedWithoutTcpEstablishedAndNamed() throws Exception {
        withConnection((t, peer, s, raw) -> {
            t.awaitLines(2);
            CryoException e = assertThrows(CryoException.class,
                    () -> Checkpoint.dump(dump(tmp.resolve("img"), t.pid(), false, false)));
            String port = Integer.toString(((InetSocketAddress) raw.getLocalAddress()).getPort());
            assertTrue(e.getMessage().contains("established TCP connection 127.0.0.1:")
                    && e.getMessage().contains("-> 127.0.0.1:" + port) && e.getMessage().contains("--tcp-established"),
                    e.getMessage());
            assertTrue(t.alive());
            s.fillBothQueues();
            s.exchangeAndSettle(10_000);
        });
    }

    @Test
    void leaveRunningTakesTheLockAwayAndTheStreamGoesOn() throws Exception {
        withConnection((t, peer, s, raw) -> {
            s.fillBothQueues();
            Checkpoint.dump(dump(tmp.resolve("img"), t.pid(), true, true));
            assertTrue(t.alive());
            s.exchangeAndSettle(20_000);
        });
    }

    @Test
    void tcpCloseEndsTheConnectionForTheProgramAndItsPeer() throws Exception {
        withConnection((t, peer, s, raw) -> {
            s.fillBothQueues();
            Path img = tmp.resolve("img");
            Checkpoint.dump(dump(img, t.pid(), false, true));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Checkpoint.restore(new RestoreOptions(img, true, true, true, null, null));
            raw.configureBlocking(true);
            IOException reset = assertThrows(IOException.class, () -> {
                ByteBuffer b = ByteBuffer.allocate(1 << 20);
                while (raw.read(b) >= 0) {
                    b.clear();
                }
                throw new IOException("end of stream");
            });
            assertTrue(reset.getMessage().contains("reset") || reset.getMessage().contains("end of stream"),
                    reset.getMessage());
            Files.createFile(tmp.resolve("go"));
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().stream().anyMatch(l -> l.startsWith("FAIL")));
            String fail = t.lines().stream().filter(l -> l.startsWith("FAIL")).findFirst().orElseThrow();
            assertTrue(fail.contains("abort") || fail.contains("reset") || fail.contains("end of stream"), fail);
        });
    }

    @Test
    void failedDumpLeavesNoLockAndTheConnectionWorks() throws Exception {
        withConnection((t, peer, s, raw) -> {
            s.fillBothQueues();
            System.setProperty("cryo.fault.step", "write images");
            try {
                assertThrows(CryoException.class, () -> Checkpoint.dump(dump(tmp.resolve("img"), t.pid(), false, true)));
            } finally {
                System.clearProperty("cryo.fault.step");
            }
            assertTrue(t.alive());
            s.exchangeAndSettle(20_000);
            assertEquals(null, peer.failure.get());
        });
    }
}
