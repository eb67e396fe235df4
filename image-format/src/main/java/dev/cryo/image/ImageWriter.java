package dev.cryo.image;

import com.google.protobuf.Message;
import dev.cryo.image.proto.ghost_file_entry;

import java.io.ByteArrayOutputStream;
import java.util.List;

/** Encodes an {@link ImageFile} into CRIU's binary framing, refusing entries CRIU could not read back. */
final class ImageWriter {
    private ImageWriter() {
    }

    static byte[] write(ImageFile image) throws ImageFormatException {
        return write(image, true);
    }

    /**
     * {@code payloads} false: the entries' payloads are written elsewhere, after these bytes (each entry's is
     * empty here); everything else is checked as always.
     */
    static byte[] write(ImageFile image, boolean payloads) throws ImageFormatException {
        String name = image.magicName();
        ImageType type = ImageType.forMagic(name)
                .orElseThrow(() -> new ImageFormatException(name, 0, "no encoder for image type " + name));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        image.magic().leadingMagic().ifPresent(m -> u32(out, m));
        u32(out, image.magic().value());
        List<ImageEntry> records = image.records();
        boolean ghostChunks = false;
        for (int i = 0; i < records.size(); i++) {
            ImageEntry r = records.get(i);
            Message m = r.message();
            Message expected = type.prototypeAt(i, ghostChunks);
            // the class answers for generated messages; descriptors (built on first use, the costliest step of a cold
            // run) only for others, such as DynamicMessage
            if (m.getClass() != expected.getClass() && !m.getDescriptorForType().equals(expected.getDescriptorForType())) {
                throw new ImageFormatException(name, out.size(), "entry " + i + " is a "
                        + m.getDescriptorForType().getName() + " where a " + expected.getDescriptorForType().getName()
                        + " belongs");
            }
            if (!m.isInitialized()) {
                throw new ImageFormatException(name, out.size(), "entry " + i + " (" + m.getDescriptorForType().getName()
                        + ") misses required fields " + m.findInitializationErrors());
            }
            if (type.layout() == ImageType.Layout.GHOST_FILE && i == 0) {
                ghostChunks = ((ghost_file_entry) m).getChunks();
            }
            if (payloads) {
                checkPayload(name, out.size(), type, i, r);
            }
            byte[] bytes = m.toByteArray();
            u32(out, bytes.length);
            out.writeBytes(bytes);
            out.writeBytes(r.payload());
        }
        return out.toByteArray();
    }

    private static void checkPayload(String name, long offset, ImageType type, int index, ImageEntry r)
            throws ImageFormatException {
        long actual = r.payload().length;
        long expected;
        switch (type.payload()) {
            case IPC_MSG -> {
                // The payload holds its own framing; it must decode as exactly qnum messages.
                ImageReader.checkIpcMessages(name, offset, PayloadLayout.ipcMessageCount(r.message()), r.payload());
                return;
            }
            case GHOST_DATA -> expected = PayloadLayout.ghostLength(index, r.message(), actual);
            default -> expected = PayloadLayout.length(type.payload(), r.message());
        }
        if (expected != actual) {
            throw new ImageFormatException(name, offset, "entry " + index + " (" + r.message().getDescriptorForType().getName()
                    + ") announces " + Long.toUnsignedString(expected) + " payload bytes but carries " + actual);
        }
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        out.write(v);
        out.write(v >>> 8);
        out.write(v >>> 16);
        out.write(v >>> 24);
    }
}
