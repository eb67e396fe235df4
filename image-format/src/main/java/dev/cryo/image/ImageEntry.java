package dev.cryo.image;

import com.google.protobuf.Message;

import java.util.Arrays;
import java.util.Objects;

/**
 * One entry of an image: the protobuf message and the raw bytes CRIU stores right after it
 * (pipe content, TCP queues, packet data, IPC contents, ghost file data). The payload is empty for
 * image types without one.
 */
public record ImageEntry(Message message, byte[] payload) {
    private static final byte[] NONE = new byte[0];

    public ImageEntry {
        Objects.requireNonNull(message, "message");
        payload = payload == null ? NONE : payload;
    }

    /** An entry without payload. */
    public static ImageEntry of(Message message) {
        return new ImageEntry(message, NONE);
    }

    /** The payload; callers must not modify it. */
    @Override
    public byte[] payload() {
        return payload;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageEntry e && message.equals(e.message) && Arrays.equals(payload, e.payload);
    }

    @Override
    public int hashCode() {
        return 31 * message.hashCode() + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return message.getDescriptorForType().getName() + "{" + message.toString().replace('\n', ' ').trim()
                + (payload.length > 0 ? "} + " + payload.length + " payload bytes" : "}");
    }
}
