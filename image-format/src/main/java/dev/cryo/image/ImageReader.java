package dev.cryo.image;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.cryo.image.proto.ghost_file_entry;
import dev.cryo.image.proto.ipc_msg;

import java.util.ArrayList;
import java.util.List;

/** Decodes the binary framing of one image held in memory. Never allocates by a size it has not checked. */
final class ImageReader {
    /** CRIU entries are small; anything larger is corruption, not data. */
    static final int MAX_ENTRY_SIZE = 64 << 20;
    static final long MAX_FILE_SIZE = Integer.MAX_VALUE - 8;

    private final String name;
    private final byte[] data;
    private int pos;

    ImageReader(String name, byte[] data) {
        this.name = name;
        this.data = data;
    }

    ImageFile read() throws ImageFormatException {
        int first = u32("image magic");
        int value = first;
        if (first == Magic.IMG_COMMON || first == Magic.IMG_SERVICE) {
            value = u32("image magic");
        }
        int magicValue = value;
        Magic magic = Magic.byValue(magicValue).orElseThrow(() -> fail(pos - 4, String.format(
                "unknown magic 0x%08x (pages-*.img files hold raw pages and have no magic)", magicValue)));
        ImageType type = ImageType.forMagic(magic.name())
                .orElseThrow(() -> fail(pos - 4, "no decoder for image type " + magic.name()));
        List<ImageEntry> records = new ArrayList<>();
        boolean ghostChunks = false;
        while (pos < data.length) {
            Message prototype = type.prototypeAt(records.size(), ghostChunks);
            Message message = message(prototype);
            byte[] payload = payload(type, records.size(), message);
            if (type.layout() == ImageType.Layout.GHOST_FILE && records.isEmpty()) {
                ghostChunks = ((ghost_file_entry) message).getChunks();
            }
            records.add(new ImageEntry(message, payload));
        }
        return ImageFile.ofRecords(magic.name(), records);
    }

    private Message message(Message prototype) throws ImageFormatException {
        int start = pos;
        long size = Integer.toUnsignedLong(u32("entry size"));
        if (size > MAX_ENTRY_SIZE) {
            throw fail(start, "entry size " + size + " exceeds the 64 MiB limit");
        }
        if (size > data.length - pos) {
            throw fail(start, "entry of " + size + " bytes is truncated: only " + (data.length - pos) + " bytes left");
        }
        try {
            Message m = prototype.getParserForType().parseFrom(data, pos, (int) size);
            pos += (int) size;
            return m;
        } catch (InvalidProtocolBufferException e) {
            throw fail(pos, "malformed " + prototype.getDescriptorForType().getName() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw fail(pos, "malformed " + prototype.getDescriptorForType().getName() + ": " + e, e);
        }
    }

    private byte[] payload(ImageType type, int index, Message message) throws ImageFormatException {
        int start = pos;
        long length;
        if (type.payload() == ImageType.Payload.IPC_MSG) {
            length = ipcMessagesLength(PayloadLayout.ipcMessageCount(message));
        } else if (type.payload() == ImageType.Payload.GHOST_DATA) {
            length = PayloadLayout.ghostLength(index, message, data.length - pos);
        } else {
            length = PayloadLayout.length(type.payload(), message);
        }
        if (length < 0 || length > data.length - start) {
            throw fail(start, message.getDescriptorForType().getName() + " announces " + Long.toUnsignedString(length)
                    + " payload bytes but only " + (data.length - start) + " are left");
        }
        pos = start + (int) length;
        return java.util.Arrays.copyOfRange(data, start, pos);
    }

    /** Walks qnum size-prefixed ipc_msg headers and their 8-byte padded texts; returns the bytes they span. */
    private long ipcMessagesLength(long qnum) throws ImageFormatException {
        int start = pos;
        for (long i = 0; i < qnum; i++) {
            ipc_msg msg = (ipc_msg) message(ipc_msg.getDefaultInstance());
            long text = PayloadLayout.roundUp(Integer.toUnsignedLong(msg.getMsize()), 8);
            if (text > data.length - pos) {
                throw fail(pos, "ipc_msg text of " + msg.getMsize() + " bytes is truncated: only "
                        + (data.length - pos) + " bytes left");
            }
            pos += (int) text;
        }
        long length = pos - start;
        pos = start;
        return length;
    }

    /** Checks that {@code payload} is exactly {@code qnum} framed IPC messages. */
    static void checkIpcMessages(String name, long offset, long qnum, byte[] payload) throws ImageFormatException {
        ImageReader r = new ImageReader(name, payload);
        long length;
        try {
            length = r.ipcMessagesLength(qnum);
        } catch (ImageFormatException e) {
            throw new ImageFormatException(name, offset, "IPC message payload does not hold " + qnum + " messages: "
                    + e.getMessage(), e);
        }
        if (length != payload.length) {
            throw new ImageFormatException(name, offset, "IPC message payload has " + (payload.length - length)
                    + " bytes after its " + qnum + " messages");
        }
    }

    private int u32(String what) throws ImageFormatException {
        if (data.length - pos < 4) {
            throw fail(pos, "truncated " + what + ": " + (data.length - pos) + " of 4 bytes");
        }
        int v = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8 | (data[pos + 2] & 0xff) << 16 | (data[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private ImageFormatException fail(long offset, String problem) {
        return new ImageFormatException(name, offset, problem);
    }

    private ImageFormatException fail(long offset, String problem, Throwable cause) {
        return new ImageFormatException(name, offset, problem, cause);
    }
}
