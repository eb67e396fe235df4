package dev.cryo.engine.net;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.tcp_stream_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Established TCP connections with bytes queued both ways, dumped with --tcp-established and restored. */
@RootWithPtrace
class TcpConnectionRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void ipv4ConnectionKeepsBothQueuesAndOptions() throws Exception {
        roundTrip(false);
    }

    @Test
    void ipv6ConnectionKeepsBothQueuesAndOptions() throws Exception {
        roundTrip(true);
    }

    private void roundTrip(boolean v6) throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "stream", StreamPrograms.STREAM);
                try (ServerSocketChannel server = ServerSocketChannel.open(v6 ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET)) {
                    server.setOption(StandardSocketOptions.SO_RCVBUF, 8192);
                    server.bind(new InetSocketAddress(InetAddress.getByName(v6 ? "::1" : "127.0.0.1"), 0));
                    int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
                    try (Target t = Target.start(exe, tmp.resolve("out.txt"), Integer.toString(port), v6 ? "6" : "4");
                         StreamPeer peer = new StreamPeer(server.accept())) {
                        StreamSession s = new StreamSession(tmp, t, peer);
                        s.fillBothQueues();
                        Path img = tmp.resolve("img");
                        Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null, null));
                        await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                        tcp_stream_entry stream = onlyStream(img);
                        System.out.println("program before the dump: " + t.lines() + ", stream " + stream.getInqLen() + "/" + stream.getOutqLen());
                        assertTrue(stream.getInqLen() > 0, "bytes waiting to be read were dumped: " + stream);
                        assertTrue(stream.getOutqLen() > 0, "bytes waiting to be sent were dumped: " + stream);
                        assertEquals(1, net.cryoTables().size(), "the network lock holds the connection between dump and restore");
                        Checkpoint.restore(new RestoreOptions(img, true, true, false, null, null));
                        assertTrue(net.cryoTables().isEmpty(), "no Cryo table after the restore: " + net.cryoTables());
                        String idle;
                        try {
                            idle = s.exchangeAndSettle(50_000);
                        } finally {
                            System.out.println("program after the restore: " + t.lines() + ", peer got " + peer.received + " sent " + peer.sent + " " + peer.failure);
                            for (String[] cmd : new String[][]{{"nstat", "-az"}, {"ss", "-tinoem"}}) {
                                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
                                String o = new String(p.getInputStream().readAllBytes());
                                System.out.println(o.lines().filter(l -> !l.matches(".*\\s0\\s+0.0$")).reduce("", (a, b) -> a + "\n" + b));
                            }
                        }
                        assertTrue(idle.endsWith("nodelay=1 keepalive=1"), idle);
                        assertNull(peer.failure.get());
                    }
                }
            });
            assertTrue(net.cryoTables().isEmpty(), "no Cryo nftables table is left");
        }
    }

    static tcp_stream_entry onlyStream(Path img) throws Exception {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(img, "tcp-stream-*.img")) {
            List<Path> files = new java.util.ArrayList<>();
            ds.forEach(files::add);
            assertEquals(1, files.size(), "one connection, one tcp-stream image: " + files);
            String hex = files.get(0).getFileName().toString().replace("tcp-stream-", "").replace(".img", "");
            return (tcp_stream_entry) ImageDir.open(img).tcpStream(Long.parseLong(hex, 16)).message();
        }
    }
}
