package dev.cryo.engine.net;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.inet_sk_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A server holding its listening socket and an accepted connection with bytes queued both ways. */
@RootWithPtrace
class TcpServerRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void ipv4ServerKeepsItsConnectionAndListener() throws Exception {
        roundTrip(false);
    }

    @Test
    void ipv6ServerKeepsItsConnectionAndListener() throws Exception {
        roundTrip(true);
    }

    private void roundTrip(boolean v6) throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "server", StreamPrograms.SERVER);
                InetAddress lo = InetAddress.getByName(v6 ? "::1" : "127.0.0.1");
                try (Target t = Target.start(exe, tmp.resolve("out.txt"), v6 ? "6" : "4")) {
                    Path portFile = tmp.resolve("port");
                    await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(portFile));
                    int port = Integer.parseInt(Files.readString(portFile).strip());
                    SocketChannel client = SocketChannel.open();
                    client.setOption(StandardSocketOptions.SO_RCVBUF, 8192);
                    client.connect(new InetSocketAddress(lo, port));
                    try (StreamPeer peer = new StreamPeer(client)) {
                        StreamSession s = new StreamSession(tmp, t, peer);
                        s.fillBothQueues();
                        Path img = tmp.resolve("img");
                        Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null, null));
                        await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                        List<Integer> states = ImageDir.open(img).files().stream().filter(file_entry::hasIsk)
                                .map(file_entry::getIsk).map(inet_sk_entry::getState).sorted().toList();
                        assertEquals(List.of(1, 10), states, "one established connection and one listener");
                        TcpConnectionRoundTripTest.onlyStream(img);
                        Checkpoint.restore(new RestoreOptions(img, true, true, false, null, null));
                        assertTrue(net.cryoTables().isEmpty(), "no Cryo table after the restore: " + net.cryoTables());
                        String idle = s.exchangeAndSettle(50_000);
                        assertTrue(idle.endsWith("nodelay=1 keepalive=1"), idle);
                        assertNull(peer.failure.get());
                        try (SocketChannel another = SocketChannel.open(new InetSocketAddress(lo, port))) {
                            await().atMost(Duration.ofSeconds(10))
                                    .until(() -> t.lines().contains("accepted another"));
                        }
                    }
                }
            });
            assertTrue(net.cryoTables().isEmpty(), "no Cryo nftables table is left");
        }
    }
}
