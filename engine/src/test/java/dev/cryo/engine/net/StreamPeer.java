package dev.cryo.engine.net;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The far end of a test connection, outside the dumped process: sends the byte sequence i % 251 and checks that
 * what it reads is the same sequence, nothing lost, nothing duplicated.
 */
final class StreamPeer implements AutoCloseable {
    private final SocketChannel channel;
    final AtomicLong sent = new AtomicLong();
    final AtomicLong received = new AtomicLong();
    final AtomicReference<String> failure = new AtomicReference<>();
    private final Object gate = new Object();
    private boolean reading;
    private final Thread reader;

    StreamPeer(SocketChannel channel) {
        this.channel = channel;
        reader = new Thread(this::readLoop, "stream-peer");
        reader.setDaemon(true);
        reader.start();
    }

    void startReading() {
        synchronized (gate) {
            reading = true;
            gate.notifyAll();
        }
    }

    void send(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        long s = sent.get();
        for (int i = 0; i < n; i++) {
            b.put((byte) ((s + i) % 251));
        }
        b.flip();
        while (b.hasRemaining()) {
            channel.write(b);
        }
        sent.addAndGet(n);
    }

    private void readLoop() {
        ByteBuffer b = ByteBuffer.allocate(65536);
        try {
            synchronized (gate) {
                while (!reading) {
                    gate.wait();
                }
            }
            while (true) {
                b.clear();
                int n = channel.read(b);
                if (n < 0) {
                    failure.compareAndSet(null, "end of stream after " + received.get() + " bytes");
                    return;
                }
                long r = received.get();
                for (int i = 0; i < n; i++) {
                    if ((b.get(i) & 0xff) != (r + i) % 251) {
                        failure.compareAndSet(null, "wrong byte at " + (r + i));
                        return;
                    }
                }
                received.addAndGet(n);
            }
        } catch (IOException | InterruptedException e) {
            failure.compareAndSet(null, e.toString());
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
