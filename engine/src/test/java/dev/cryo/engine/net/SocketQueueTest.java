package dev.cryo.engine.net;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A socket's queue read without consuming it, whatever the sizes of its messages. */
class SocketQueueTest {
    private static byte[] filled(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void datagramsLargerThanTheFirstAreReadWholeAndInOrder() throws Exception {
        SocketFd[] p = SocketFd.pair(SocketFd.SOCK_DGRAM);
        try {
            p[0].setInt(SocketFd.SOL_SOCKET, 32 /* SO_SNDBUFFORCE */, 8 << 20);
            p[1].setInt(SocketFd.SOL_SOCKET, 33 /* SO_RCVBUFFORCE */, 8 << 20);
            byte[][] sent = {filled(10, 1), filled(1 << 20, 2), filled(5, 3), filled(300_000, 4)};
            for (byte[] m : sent) {
                p[0].sendMessage(m, new int[0], null);
            }
            List<SocketQueue.Packet> q = SocketQueue.peekAll(p[1], false);
            assertEquals(sent.length, q.size());
            for (int i = 0; i < sent.length; i++) {
                assertArrayEquals(sent[i], q.get(i).data(), "message " + i);
            }
            // nothing was consumed, and the socket's own peek offset is as it was (off)
            assertEquals(-1, p[1].getInt(SocketFd.SOL_SOCKET, SocketFd.SO_PEEK_OFF));
            assertEquals(4, SocketQueue.peekAll(p[1], false).size());
        } finally {
            p[0].close();
            p[1].close();
        }
    }

    @Test
    void aStreamsBytesAreReadWhole() throws Exception {
        SocketFd[] p = SocketFd.pair(SocketFd.SOCK_STREAM);
        try {
            byte[] a = filled(100_000, 5), b = filled(7, 6);
            p[0].sendAll(a);
            p[0].sendAll(b);
            List<SocketQueue.Packet> q = SocketQueue.peekAll(p[1], true);
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            q.forEach(x -> all.writeBytes(x.data()));
            byte[] expected = java.util.Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, expected, a.length, b.length);
            assertArrayEquals(expected, all.toByteArray());
            assertEquals(0, SocketQueue.peekAll(p[0], true).size(), "an empty queue");
        } finally {
            p[0].close();
            p[1].close();
        }
    }
}
