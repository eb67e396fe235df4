package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.PopulatedMemory;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.util.ArrayList;
import java.util.List;

/**
 * The receive queue of a socket read without consuming it: MSG_PEEK walked along with SO_PEEK_OFF, which the
 * kernel moves past what each peek returned. The socket's own peek offset is put back afterwards.
 */
public final class SocketQueue {
    /** Largest message read; a datagram can be as large as the sender's buffer. */
    static final int MAX_MESSAGE = 4 << 20;

    /**
     * One message (datagram) or run of stream bytes; {@code fds} are descriptors it carries, opened in this
     * process by the peek; {@code from} the sender's address when the kernel tells it.
     */
    public record Packet(byte[] data, int[] fds, SockAddr from) {
        /** Closes the descriptors the peek opened in this process. */
        public void closeFds() {
            for (int f : fds) {
                Syscall.raw(Syscall.CLOSE, f);
            }
        }
    }

    private SocketQueue() {
    }

    /**
     * Every message waiting to be read, in order; closes what it opened if it fails. The buffer is sized to what is
     * queued (FIONREAD: a stream's bytes, a datagram socket's first message), and grown to {@link #MAX_MESSAGE} for a
     * larger datagram behind it: a 4 MiB buffer for every socket, most of them with nothing queued, cost ~12 ms of
     * page faults each in the frozen window.
     */
    public static List<Packet> peekAll(SocketFd s, boolean stream) throws SyscallException {
        int old = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_PEEK_OFF);
        List<Packet> out = new ArrayList<>();
        boolean done = false;
        int size = Math.min(MAX_MESSAGE, Math.max(4096, s.inq()));
        PopulatedMemory memory = PopulatedMemory.map(size);
        try {
            s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_PEEK_OFF, 0);
            int offset = 0;
            for (;;) {
                SocketFd.Peeked p = s.peekMessage(NativeBuffer.wrap(memory.buffer()), size);
                if (p == null) {
                    break;
                }
                if (p.truncated()) {
                    new Packet(p.data(), p.fds(), null).closeFds();
                    if (size < MAX_MESSAGE) {
                        // a datagram larger than the first: peeked again, whole, from where it starts
                        memory.close();
                        size = MAX_MESSAGE;
                        memory = PopulatedMemory.map(size);
                        s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_PEEK_OFF, offset);
                        continue;
                    }
                    throw new SyscallException("a queued message larger than " + MAX_MESSAGE + " bytes", 90 /* EMSGSIZE */);
                }
                if (stream && p.data().length == 0 && p.fds().length == 0) {
                    break; // end of stream: the peer shut down
                }
                out.add(new Packet(p.data(), p.fds(), p.from()));
                if (p.data().length == 0) {
                    // a zero-length message: the peek offset cannot step over it
                    break;
                }
                offset += p.data().length;
            }
            done = true;
            return out;
        } finally {
            memory.close();
            s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_PEEK_OFF, old);
            if (!done) {
                out.forEach(Packet::closeFds);
            }
        }
    }
}
