package dev.cryo.engine.net;

import dev.cryo.engine.testing.Target;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Drives the stream program and its peer: start and stop its exchange, settle both counts, check them. */
final class StreamSession {
    private final Path go;
    private final Target target;
    private final StreamPeer peer;

    StreamSession(Path dir, Target target, StreamPeer peer) {
        this.go = dir.resolve("go");
        this.target = target;
        this.peer = peer;
    }

    List<String> idleLines() throws IOException {
        List<String> lines = target.lines();
        for (String l : lines) {
            if (l.startsWith("FAIL")) {
                fail("the program failed: " + l);
            }
        }
        return lines.stream().filter(l -> l.startsWith("idle ")).toList();
    }

    /** Stops the program's exchange and returns its idle line. */
    String pause() throws IOException {
        int before = idleLines().size();
        Files.deleteIfExists(go);
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(5)).until(() -> idleLines().size() > before);
        List<String> l = idleLines();
        return l.get(l.size() - 1);
    }

    /** Starts the program's exchange and waits until it runs. */
    void resume() throws IOException {
        long before = target.lines().stream().filter(l -> l.equals("go")).count();
        if (!Files.exists(go)) {
            Files.createFile(go);
        }
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(2))
                .until(() -> target.lines().stream().filter(l -> l.equals("go")).count() > before);
    }

    static long field(String idle, String name) {
        for (String w : idle.split(" ")) {
            if (w.startsWith(name + "=")) {
                return Long.parseLong(w.substring(name.length() + 1));
            }
        }
        throw new AssertionError("no " + name + " in " + idle);
    }

    /**
     * The program writes while the peer does not read (its send queue fills), then stops while the peer writes
     * {@code toRead} bytes (they wait in its receive queue).
     */
    void fillBothQueues(int exchanged, int toRead) throws IOException {
        target.awaitLines(2);
        resume();
        peer.send(exchanged);
        for (int round = 0; field(pause(), "recvd") < exchanged; round++) {
            if (round > 50) {
                fail("the program never read the " + exchanged + " bytes sent before the dump");
            }
            resume();
        }
        peer.send(toRead);
    }

    void fillBothQueues() throws IOException {
        fillBothQueues(100_000, 30_000);
    }

    /** Both sides exchange, then settle: each has read exactly what the other wrote. Returns the last idle line. */
    String exchangeAndSettle(int peerSends) throws IOException {
        peer.startReading();
        resume();
        peer.send(peerSends);
        for (int round = 0; round < 50; round++) {
            String idle = pause();
            long sent = field(idle, "sent"), recvd = field(idle, "recvd");
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5))
                    .until(() -> peer.received.get() >= sent || peer.failure.get() != null);
            if (peer.failure.get() != null) {
                fail("the peer saw a broken stream: " + peer.failure.get());
            }
            assertEquals(sent, peer.received.get(), "the peer read exactly what the program wrote");
            if (recvd == peer.sent.get()) {
                return idle;
            }
            resume();
        }
        throw new AssertionError("the program never read all " + peer.sent.get() + " bytes the peer sent");
    }
}
