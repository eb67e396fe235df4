package dev.cryo.engine.net;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Two loopback connections to one server, for the network locks' tests: a lock takes {@link #connection()} (the
 * first), and the second shows that nothing else is held.
 */
final class LoopbackPair implements AutoCloseable {
    final ServerSocket server;
    final Socket locked, lockedPeer, free, freePeer;

    LoopbackPair() throws Exception {
        server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        locked = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        lockedPeer = server.accept();
        free = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        freePeer = server.accept();
    }

    /** The first connection, from its client's side. */
    Connection connection() {
        return new Connection(address(locked.getLocalSocketAddress()), address(locked.getRemoteSocketAddress()));
    }

    /** A byte each way on the first connection and one on the second: only the second's arrives. */
    void assertHeldBothWaysAndNothingElse() throws Exception {
        locked.getOutputStream().write('a');
        lockedPeer.getOutputStream().write('b');
        free.getOutputStream().write('c');
        assertEquals('c', readWithin(freePeer, Duration.ofSeconds(10)), "another connection is not held");
        // what is held cannot be awaited: it is looked for over a bounded time, in which TCP retransmits
        assertThrows(SocketTimeoutException.class, () -> readWithin(lockedPeer, Duration.ofMillis(700)),
                "the locked connection's packets to the server are dropped");
        assertThrows(SocketTimeoutException.class, () -> readWithin(locked, Duration.ofMillis(300)),
                "and those back to the client");
    }

    /** Once unlocked: the held bytes arrive, by TCP's own retransmission. */
    void assertReleased() {
        await().atMost(Duration.ofSeconds(30)).until(() -> readWithin(lockedPeer, Duration.ofSeconds(1)) == 'a');
        await().atMost(Duration.ofSeconds(30)).until(() -> readWithin(locked, Duration.ofSeconds(1)) == 'b');
    }

    static SockAddr address(java.net.SocketAddress s) {
        InetSocketAddress i = (InetSocketAddress) s;
        return new SockAddr(SockAddr.AF_INET, i.getAddress().getAddress(), i.getPort());
    }

    static int readWithin(Socket s, Duration d) throws Exception {
        s.setSoTimeout((int) d.toMillis());
        InputStream in = s.getInputStream();
        return in.read();
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : new AutoCloseable[]{freePeer, free, lockedPeer, locked, server}) {
            c.close();
        }
    }
}
