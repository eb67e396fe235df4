package dev.cryo.engine.net;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;

/**
 * Message sizes, directions and the bytes in flight at each dump are drawn; the stream between the program and
 * its peer stays continuous in both directions across 1 to 5 dump/restore cycles.
 */
class TcpStreamProperties {
    @TempDir
    Path tmp;

    enum Direction { PROGRAM_TO_PEER, PEER_TO_PROGRAM, BOTH }

    @Test
    void streamStaysContinuousAcrossDumpRestoreCycles() throws Exception {
        Privileges.assumeRootWithPtrace();
        Path exe = CProgram.compile(tmp, "stream", StreamPrograms.STREAM);
        AtomicInteger run = new AtomicInteger();
        qt().withExamples(5).withShrinkCycles(0)
                .forAll(integers().between(0, 3), integers().between(1, 200_000), integers().between(1, 60_000),
                        integers().between(1, 5))
                .checkAssert((dir, exchanged, inFlight, cycles) -> {
                    try {
                        check(exe, tmp.resolve("run" + run.incrementAndGet()), Direction.values()[dir % 3], exchanged,
                                inFlight, cycles);
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
    }

    private void check(Path exe, Path dir, Direction direction, int exchanged, int inFlight, int cycles) throws Exception {
        java.nio.file.Files.createDirectories(dir);
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                try (ServerSocketChannel server = ServerSocketChannel.open()) {
                    server.setOption(StandardSocketOptions.SO_RCVBUF, 8192);
                    server.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
                    int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
                    try (Target t = Target.start(exe, dir.resolve("out.txt"), Integer.toString(port), "4");
                         StreamPeer peer = new StreamPeer(server.accept())) {
                        StreamSession s = new StreamSession(dir, t, peer);
                        for (int c = 0; c < cycles; c++) {
                            int ex = direction == Direction.PEER_TO_PROGRAM ? 0 : exchanged;
                            int in = direction == Direction.PROGRAM_TO_PEER ? 0 : inFlight;
                            if (c == 0) {
                                s.fillBothQueues(ex, in);
                            } else {
                                s.exchangeAndSettle(ex);
                                peer.send(in);
                            }
                            Path img = dir.resolve("img" + c);
                            Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null, null));
                            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                            Checkpoint.restore(new RestoreOptions(img, true, true, false, null, null));
                            assertTrue(net.cryoTables().isEmpty(), "no lock after restore " + c);
                        }
                        s.exchangeAndSettle(exchanged);
                        assertNull(peer.failure.get());
                    }
                }
            });
            assertTrue(net.cryoTables().isEmpty());
        }
    }
}
