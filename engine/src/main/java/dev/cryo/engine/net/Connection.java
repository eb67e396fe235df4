package dev.cryo.engine.net;

/** One TCP connection by its two ends, as the network lock and error messages name it. */
public record Connection(SockAddr local, SockAddr remote) {
    @Override
    public String toString() {
        return local + " -> " + remote;
    }
}
