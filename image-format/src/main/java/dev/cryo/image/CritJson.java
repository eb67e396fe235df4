package dev.cryo.image;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.cryo.image.proto.*;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * crit's JSON rendering of images ({@code crit decode --pretty} / {@code crit encode}):
 * {@code {"magic": "CORE", "entries": [...]}} with hex strings, flag strings, enum names, "major:minor" device
 * numbers, IP address strings and base64 payloads ({@code "extra"}) exactly as crit writes them.
 * <p>
 * Reading is stricter than crit: unknown keys, wrong value types, out-of-range numbers and payloads that do not
 * match their message are errors naming the source and the character offset, where crit would drop or
 * mis-encode them.
 */
public final class CritJson {
    private static final String EXTRA = "extra";

    private CritJson() {
    }

    /** The image as {@code crit decode --pretty} prints it (4-space indent, ASCII only), without trailing newline. */
    public static String toJson(ImageFile img) {
        return toJson(img, true);
    }

    /**
     * The image as {@code crit decode} prints it: {@code pretty} gives {@link #toJson(ImageFile)}; otherwise one
     * line with plain numbers (no hex, flag names, device or address strings), as crit does without --pretty.
     */
    public static String toJson(ImageFile img, boolean pretty) {
        Map<String, Object> top = new LinkedHashMap<>();
        top.put("magic", img.magicName());
        ImageType type = ImageType.forMagic(img.magicName())
                .orElseThrow(() -> new IllegalArgumentException("no JSON form for image type " + img.magicName()));
        List<Object> entries = new ArrayList<>();
        boolean ghostChunks = false;
        List<ImageEntry> records = img.records();
        for (int i = 0; i < records.size(); i++) {
            ImageEntry r = records.get(i);
            Map<String, Object> e = MessageJson.render(r.message(), false, pretty);
            if (type.layout() == ImageType.Layout.GHOST_FILE && i == 0) {
                ghostChunks = ((ghost_file_entry) r.message()).getChunks();
            }
            if (type.payload() != ImageType.Payload.NONE && !(type.layout() == ImageType.Layout.GHOST_FILE && i == 0 && ghostChunks)) {
                e.put(EXTRA, extra(type.payload(), r));
            }
            entries.add(e);
        }
        top.put("entries", entries);
        return pretty ? Json.print(top) : Json.printCompact(top);
    }

    private static Object extra(ImageType.Payload kind, ImageEntry r) {
        byte[] p = r.payload();
        Message m = r.message();
        switch (kind) {
            case TCP_STREAM: {
                int inq = (int) Math.min(p.length, Integer.toUnsignedLong(((tcp_stream_entry) m).getInqLen()));
                Map<String, Object> q = new LinkedHashMap<>();
                q.put("inq", Base64Text.encode(p, 0, inq));
                q.put("outq", Base64Text.encode(p, inq, p.length));
                return q;
            }
            case IPC_SHM: {
                long size = ((ipc_shm_entry) m).getSize();
                return Base64Text.encode(p, 0, (int) Math.max(0, Math.min(p.length, size)));
            }
            case IPC_SEM: {
                long nsems = Integer.toUnsignedLong(((ipc_sem_entry) m).getNsems());
                List<Object> values = new ArrayList<>();
                for (int i = 0; i < nsems && 2 * i + 1 < p.length; i++) {
                    values.add(new Json.Raw(Integer.toString((p[2 * i] & 0xff) | (p[2 * i + 1] & 0xff) << 8)));
                }
                return values;
            }
            case IPC_MSG:
                return ipcMessages(p);
            default:
                return Base64Text.encode(p);
        }
    }

    /** Alternating ipc_msg dicts and base64 texts, as crit's ipc_msg_queue_handler lists them. */
    private static List<Object> ipcMessages(byte[] p) {
        List<Object> out = new ArrayList<>();
        int pos = 0;
        while (pos + 4 <= p.length) {
            int size = (p[pos] & 0xff) | (p[pos + 1] & 0xff) << 8 | (p[pos + 2] & 0xff) << 16 | (p[pos + 3] & 0xff) << 24;
            pos += 4;
            if (size < 0 || size > p.length - pos) {
                throw new IllegalArgumentException("IPC message payload is malformed");
            }
            ipc_msg msg;
            try {
                msg = ipc_msg.parser().parseFrom(p, pos, size);
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalArgumentException("IPC message payload is malformed", e);
            }
            pos += size;
            int text = (int) Math.min(p.length - pos, Integer.toUnsignedLong(msg.getMsize()));
            out.add(MessageJson.render(msg, false));
            out.add(Base64Text.encode(p, pos, pos + text));
            pos += (int) Math.min(p.length - pos, PayloadLayout.roundUp(Integer.toUnsignedLong(msg.getMsize()), 8));
        }
        return out;
    }

    /** Parses crit JSON back into an image; {@code sourceName} and the character offset appear in errors. */
    public static ImageFile fromJson(String json, String sourceName) throws ImageFormatException {
        try {
            return parse(json);
        } catch (Json.SyntaxError e) {
            throw new ImageFormatException(sourceName, e.offset, "invalid JSON: " + e.getMessage());
        } catch (MessageJson.Problem e) {
            throw new ImageFormatException(sourceName, e.offset, e.getMessage());
        } catch (RuntimeException e) {
            // A converter bug must still surface as a format error, never as an unexpected crash of the caller.
            throw new ImageFormatException(sourceName, 0, "cannot convert JSON: " + e, e);
        }
    }

    private static ImageFile parse(String json) throws Json.SyntaxError, MessageJson.Problem {
        Json.Value root = Json.parse(json);
        if (!(root instanceof Json.Obj top)) {
            throw new MessageJson.Problem(root.offset(), "expected an object with \"magic\" and \"entries\", not " + root.kind());
        }
        for (Map.Entry<String, Json.Value> e : top.members().entrySet()) {
            if (!e.getKey().equals("magic") && !e.getKey().equals("entries")) {
                throw new MessageJson.Problem(top.keyOffset(e.getKey()), "unexpected key \"" + e.getKey() + "\" next to magic and entries");
            }
        }
        Json.Value magicValue = top.members().get("magic");
        if (!(magicValue instanceof Json.Str magicName)) {
            throw new MessageJson.Problem(magicValue == null ? top.offset() : magicValue.offset(), "\"magic\" must be a string naming the image type");
        }
        ImageType type = ImageType.forMagic(magicName.value()).orElseThrow(() -> new MessageJson.Problem(
                magicName.offset(), "unknown magic \"" + magicName.value() + "\""));
        Json.Value entriesValue = top.members().get("entries");
        if (!(entriesValue instanceof Json.Arr entries)) {
            throw new MessageJson.Problem(entriesValue == null ? top.offset() : entriesValue.offset(), "\"entries\" must be a list");
        }
        List<ImageEntry> records = new ArrayList<>(entries.items().size());
        boolean ghostChunks = false;
        for (int i = 0; i < entries.items().size(); i++) {
            Json.Value v = entries.items().get(i);
            if (!(v instanceof Json.Obj obj)) {
                throw new MessageJson.Problem(v.offset(), "entry " + i + " must be an object, not " + v.kind());
            }
            Message.Builder b = type.prototypeAt(i, ghostChunks).newBuilderForType();
            boolean hasExtra = type.payload() != ImageType.Payload.NONE;
            MessageJson.parse(obj, b, hasExtra ? EXTRA : null);
            Message m = b.buildPartial();
            if (!m.isInitialized()) {
                throw new MessageJson.Problem(v.offset(), "entry " + i + " (" + m.getDescriptorForType().getName()
                        + ") misses required fields " + m.findInitializationErrors());
            }
            if (type.layout() == ImageType.Layout.GHOST_FILE && i == 0) {
                ghostChunks = ((ghost_file_entry) m).getChunks();
            }
            byte[] payload = hasExtra ? payload(type, i, m, obj.members().get(EXTRA), obj.offset()) : new byte[0];
            records.add(new ImageEntry(m, payload));
        }
        return ImageFile.ofRecords(type.magic().name(), records);
    }

    private static byte[] payload(ImageType type, int index, Message m, Json.Value extra, int entryOffset)
            throws MessageJson.Problem {
        ImageType.Payload kind = type.payload();
        int at = extra == null ? entryOffset : extra.offset();
        byte[] p = switch (kind) {
            case TCP_STREAM -> tcpQueues(extra, at);
            case IPC_SEM -> semaphores((ipc_sem_entry) m, extra, at);
            case IPC_MSG -> ipcMessages((ipc_msg_entry) m, extra, at);
            case IPC_SHM -> {
                byte[] data = extra == null ? new byte[0] : base64(extra, "extra");
                long size = ((ipc_shm_entry) m).getSize();
                if (size < 0 || data.length < size) {
                    throw new MessageJson.Problem(at, "ipc_shm_entry.size is " + Long.toUnsignedString(size)
                            + " but extra holds " + data.length + " bytes");
                }
                yield padded(data, (int) size, 4);
            }
            default -> extra == null ? new byte[0] : base64(extra, "extra");
        };
        long expected = kind == ImageType.Payload.IPC_MSG ? p.length
                : kind == ImageType.Payload.GHOST_DATA ? PayloadLayout.ghostLength(index, m, p.length)
                : PayloadLayout.length(kind, m);
        if (expected != p.length) {
            throw new MessageJson.Problem(at, m.getDescriptorForType().getName() + " announces "
                    + Long.toUnsignedString(expected) + " payload bytes but extra holds " + p.length);
        }
        return p;
    }

    private static byte[] tcpQueues(Json.Value extra, int at) throws MessageJson.Problem {
        if (extra == null) {
            return new byte[0];
        }
        if (!(extra instanceof Json.Obj q)) {
            throw new MessageJson.Problem(at, "tcp_stream extra must be an object with inq and outq, not " + extra.kind());
        }
        for (String k : q.members().keySet()) {
            if (!k.equals("inq") && !k.equals("outq")) {
                throw new MessageJson.Problem(q.keyOffset(k), "tcp_stream extra has no key \"" + k + "\"");
            }
        }
        byte[] inq = q.members().containsKey("inq") ? base64(q.members().get("inq"), "inq") : new byte[0];
        byte[] outq = q.members().containsKey("outq") ? base64(q.members().get("outq"), "outq") : new byte[0];
        byte[] p = Arrays.copyOf(inq, inq.length + outq.length);
        System.arraycopy(outq, 0, p, inq.length, outq.length);
        return p;
    }

    private static byte[] semaphores(ipc_sem_entry m, Json.Value extra, int at) throws MessageJson.Problem {
        long nsems = Integer.toUnsignedLong(m.getNsems());
        if (!(extra instanceof Json.Arr a)) {
            throw new MessageJson.Problem(at, "ipc_sem extra must be a list of " + nsems + " semaphore values");
        }
        if (a.items().size() != nsems) {
            throw new MessageJson.Problem(at, "ipc_sem_entry.nsems is " + nsems + " but extra lists " + a.items().size() + " values");
        }
        byte[] p = new byte[(int) PayloadLayout.roundUp(2 * nsems, 8)];
        for (int i = 0; i < a.items().size(); i++) {
            Json.Value v = a.items().get(i);
            if (!(v instanceof Json.Num n) || !n.integral() || n.text().length() > 6 || Integer.parseInt(n.text()) < 0
                    || Integer.parseInt(n.text()) > 0xffff) {
                throw new MessageJson.Problem(v.offset(), "semaphore value must be an integer 0..65535");
            }
            int s = Integer.parseInt(n.text());
            p[2 * i] = (byte) s;
            p[2 * i + 1] = (byte) (s >>> 8);
        }
        return p;
    }

    private static byte[] ipcMessages(ipc_msg_entry m, Json.Value extra, int at) throws MessageJson.Problem {
        if (!(extra instanceof Json.Arr a) || a.items().size() % 2 != 0) {
            throw new MessageJson.Problem(at, "ipc_msg extra must list ipc_msg objects each followed by its base64 text");
        }
        long qnum = Integer.toUnsignedLong(m.getQnum());
        if (a.items().size() / 2 != qnum) {
            throw new MessageJson.Problem(at, "ipc_msg_entry.qnum is " + qnum + " but extra holds " + a.items().size() / 2 + " messages");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < a.items().size(); i += 2) {
            Json.Value hv = a.items().get(i);
            if (!(hv instanceof Json.Obj h)) {
                throw new MessageJson.Problem(hv.offset(), "expected an ipc_msg object, not " + hv.kind());
            }
            ipc_msg.Builder b = ipc_msg.newBuilder();
            MessageJson.parse(h, b, null);
            ipc_msg msg = b.buildPartial();
            if (!msg.isInitialized()) {
                throw new MessageJson.Problem(hv.offset(), "ipc_msg misses required fields " + msg.findInitializationErrors());
            }
            byte[] text = base64(a.items().get(i + 1), "ipc message text");
            long msize = Integer.toUnsignedLong(msg.getMsize());
            if (text.length < msize) {
                throw new MessageJson.Problem(a.items().get(i + 1).offset(), "ipc_msg.msize is " + msize + " but the text holds "
                        + text.length + " bytes");
            }
            byte[] bytes = msg.toByteArray();
            out.write(bytes.length);
            out.write(bytes.length >>> 8);
            out.write(bytes.length >>> 16);
            out.write(bytes.length >>> 24);
            out.writeBytes(bytes);
            out.writeBytes(padded(text, (int) msize, 8));
        }
        return out.toByteArray();
    }

    /** The first {@code length} bytes of {@code data}, zero-padded to a multiple of {@code align}. */
    private static byte[] padded(byte[] data, int length, int align) {
        byte[] out = new byte[(int) PayloadLayout.roundUp(length, align)];
        System.arraycopy(data, 0, out, 0, length);
        return out;
    }

    private static byte[] base64(Json.Value v, String what) throws MessageJson.Problem {
        if (!(v instanceof Json.Str s)) {
            throw new MessageJson.Problem(v.offset(), what + " must be a base64 string, not " + v.kind());
        }
        try {
            return Base64Text.decode(s.value());
        } catch (IllegalArgumentException e) {
            throw new MessageJson.Problem(v.offset(), what + ": invalid base64: " + e.getMessage());
        }
    }
}
