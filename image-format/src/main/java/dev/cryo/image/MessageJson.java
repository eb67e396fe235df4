package dev.cryo.image;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.cryo.image.proto.CryoOptions;
import dev.cryo.image.proto.cryo_field_opts;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** One protobuf message to and from crit's dict form (crit's pb2dict/dict2pb with pretty=True). */
final class MessageJson {
    private static final BigInteger TWO_32 = BigInteger.ONE.shiftLeft(32);
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);
    private static final Map<com.google.protobuf.Descriptors.Descriptor, List<FieldDescriptor>> BY_NUMBER =
            new ConcurrentHashMap<>();
    private static final Map<String, Map<String, Map<Long, String>>> DICTS = Map.of(
            "gen", Map.of("task_state", Map.of(1L, "Alive", 3L, "Zombie", 6L, "Stopped")),
            "sk", Map.of(
                    "family", Map.of(1L, "UNIX", 2L, "INET", 10L, "INET6", 16L, "NETLINK", 17L, "PACKET"),
                    "type", Map.of(1L, "STREAM", 2L, "DGRAM", 3L, "RAW", 5L, "SEQPACKET", 10L, "PACKET"),
                    "state", Map.of(1L, "ESTABLISHED", 2L, "SYN_SENT", 3L, "SYN_RECV", 4L, "FIN_WAIT1",
                            5L, "FIN_WAIT2", 6L, "TIME_WAIT", 7L, "CLOSE", 8L, "CLOSE_WAIT", 9L, "LAST_ACK",
                            10L, "LISTEN"),
                    "proto", Map.of(0L, "IP", 6L, "TCP", 17L, "UDP", 136L, "UDPLITE")));

    private MessageJson() {
    }

    static cryo_field_opts opts(FieldDescriptor f) {
        return f.getOptions().getExtension(CryoOptions.cryo);
    }

    /** Fields in number order, the order crit lists them. */
    private static List<FieldDescriptor> fields(com.google.protobuf.Descriptors.Descriptor d) {
        return BY_NUMBER.computeIfAbsent(d, k -> {
            List<FieldDescriptor> l = new ArrayList<>(k.getFields());
            l.sort(Comparator.comparingInt(FieldDescriptor::getNumber));
            return List.copyOf(l);
        });
    }

    // ---- message -> dict

    static Map<String, Object> render(Message m, boolean hex) {
        return render(m, hex, true);
    }

    /** crit's pb2dict: with {@code pretty} false, numbers stay plain (no hex, flags, dicts, devices, addresses). */
    static Map<String, Object> render(Message m, boolean hex, boolean pretty) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (FieldDescriptor f : fields(m.getDescriptorForType())) {
            if (f.isRepeated()) {
                int n = m.getRepeatedFieldCount(f);
                if (n == 0) {
                    continue;
                }
                cryo_field_opts o = opts(f);
                List<Object> list = new ArrayList<>(n);
                if (pretty && o.getIpadd() && (n == 1 || n == 4) && f.getJavaType() == FieldDescriptor.JavaType.INT) {
                    List<Integer> words = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        words.add((Integer) m.getRepeatedField(f, i));
                    }
                    list.add(AddressText.render(words));
                } else {
                    for (int i = 0; i < n; i++) {
                        list.add(value(f, m.getRepeatedField(f, i), hex, pretty));
                    }
                }
                out.put(f.getName(), list);
            } else if (m.hasField(f)) {
                out.put(f.getName(), value(f, m.getField(f), hex, pretty));
            }
        }
        return out;
    }

    private static Object value(FieldDescriptor f, Object v, boolean inheritedHex, boolean pretty) {
        cryo_field_opts o = opts(f);
        boolean hex = inheritedHex || o.getHex();
        switch (f.getType()) {
            case MESSAGE:
            case GROUP:
                return render((Message) v, hex, pretty);
            case BYTES:
                byte[] bytes = ((ByteString) v).toByteArray();
                return "unix_name".equals(o.getConv()) ? QuotedPrintable.encode(bytes) : Base64Text.encode(bytes);
            case ENUM:
                return ((EnumValueDescriptor) v).getName();
            case BOOL:
                return v;
            case STRING:
                return v;
            case FLOAT:
            case DOUBLE:
                return new Json.Raw(String.valueOf(v));
            default:
                break;
        }
        BigInteger n = integer(f, v);
        if (!pretty) {
            return new Json.Raw(n.toString());
        }
        if (hex) {
            return IntText.hex(n);
        }
        if (o.getDev()) {
            return DeviceText.render(n.longValue(), o.getOdev());
        }
        if (o.hasFlags()) {
            return FlagTable.named(o.getFlags()).map(t -> (Object) t.render(n)).orElse(IntText.hex(n));
        }
        if (o.hasDict()) {
            String name = DICTS.getOrDefault(o.getDict(), Map.of()).getOrDefault(f.getName(), Map.of())
                    .get(n.bitLength() < 63 ? n.longValue() : Long.MIN_VALUE);
            if (name != null) {
                return name;
            }
        }
        return new Json.Raw(n.toString());
    }

    /** The field value as Python sees it: unsigned types non-negative. */
    private static BigInteger integer(FieldDescriptor f, Object v) {
        return switch (f.getType()) {
            case UINT32, FIXED32 -> BigInteger.valueOf(Integer.toUnsignedLong((Integer) v));
            case UINT64, FIXED64 -> new BigInteger(Long.toUnsignedString((Long) v));
            default -> v instanceof Integer i ? BigInteger.valueOf(i) : BigInteger.valueOf((Long) v);
        };
    }

    // ---- dict -> message

    /** Thrown with the JSON offset of the offending value; converted to ImageFormatException by CritJson. */
    static final class Problem extends Exception {
        private static final long serialVersionUID = 1L;
        final int offset;

        Problem(int offset, String message) {
            super(message, null, false, false);
            this.offset = offset;
        }
    }

    /** Merges the members of {@code obj} into {@code b}; unknown keys are an error (crit drops them silently). */
    static void parse(Json.Obj obj, Message.Builder b, String skipKey) throws Problem {
        parse(obj, b, skipKey, 0);
    }

    /** Protobuf's own parser refuses deeper messages; JSON must not produce images that cannot be read back. */
    static final int MAX_NESTING = 100;

    private static void parse(Json.Obj obj, Message.Builder b, String skipKey, int depth) throws Problem {
        if (depth > MAX_NESTING) {
            throw new Problem(obj.offset(), "messages nested deeper than " + MAX_NESTING + " levels");
        }
        com.google.protobuf.Descriptors.Descriptor d = b.getDescriptorForType();
        for (Map.Entry<String, Json.Value> e : obj.members().entrySet()) {
            String key = e.getKey();
            Json.Value v = e.getValue();
            if (key.equals(skipKey)) {
                continue;
            }
            FieldDescriptor f = d.findFieldByName(key);
            if (f == null) {
                throw new Problem(obj.keyOffset(key), d.getName() + " has no field \"" + key + "\"");
            }
            if (f.isRepeated()) {
                if (!(v instanceof Json.Arr arr)) {
                    throw new Problem(v.offset(), d.getName() + "." + key + " must be a list, not " + v.kind());
                }
                repeated(f, arr, b, depth);
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                b.setField(f, message(f, v, b, depth));
            } else {
                b.setField(f, scalar(f, v));
            }
        }
    }

    private static void repeated(FieldDescriptor f, Json.Arr arr, Message.Builder b, int depth) throws Problem {
        List<Json.Value> items = arr.items();
        if (opts(f).getIpadd() && !items.isEmpty() && items.get(0) instanceof Json.Str s) {
            if (items.size() != 1) {
                throw new Problem(items.get(1).offset(), f.getFullName() + " holds one address string, not " + items.size());
            }
            try {
                for (int w : AddressText.parse(s.value())) {
                    b.addRepeatedField(f, w);
                }
            } catch (IllegalArgumentException e) {
                throw new Problem(s.offset(), e.getMessage());
            }
            return;
        }
        for (Json.Value item : items) {
            if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                b.addRepeatedField(f, message(f, item, b, depth));
            } else {
                b.addRepeatedField(f, scalar(f, item));
            }
        }
    }

    private static Message message(FieldDescriptor f, Json.Value v, Message.Builder parent, int depth) throws Problem {
        if (!(v instanceof Json.Obj obj)) {
            throw new Problem(v.offset(), f.getFullName() + " must be an object, not " + v.kind());
        }
        Message.Builder sub = parent.newBuilderForField(f);
        parse(obj, sub, null, depth + 1);
        return sub.buildPartial();
    }

    private static Object scalar(FieldDescriptor f, Json.Value v) throws Problem {
        cryo_field_opts o = opts(f);
        String where = f.getFullName();
        switch (f.getType()) {
            case BYTES: {
                Json.Str s = string(f, v);
                try {
                    return ByteString.copyFrom("unix_name".equals(o.getConv())
                            ? QuotedPrintable.decode(s.value()) : Base64Text.decode(s.value()));
                } catch (IllegalArgumentException e) {
                    throw new Problem(v.offset(), where + ": " + e.getMessage());
                }
            }
            case STRING: {
                String text = string(f, v).value();
                int bad = unpairedSurrogate(text);
                if (bad >= 0) {
                    // UTF-8 cannot carry it: the image would hold '?' instead.
                    throw new Problem(v.offset(), where + " is not valid Unicode: unpaired surrogate \\u"
                            + Integer.toHexString(text.charAt(bad)) + " at character " + bad);
                }
                return text;
            }
            case BOOL:
                if (v instanceof Json.Bool bool) {
                    return bool.value();
                }
                throw new Problem(v.offset(), where + " must be true or false, not " + v.kind());
            case ENUM: {
                EnumValueDescriptor ev = null;
                if (v instanceof Json.Str s) {
                    ev = f.getEnumType().findValueByName(s.value());
                } else if (v instanceof Json.Num num && num.integral() && num.text().length() < 12) {
                    ev = f.getEnumType().findValueByNumber(Integer.parseInt(num.text()));
                }
                if (ev == null) {
                    throw new Problem(v.offset(), where + ": no " + f.getEnumType().getName() + " value " + text(v));
                }
                return ev;
            }
            case FLOAT:
            case DOUBLE:
                throw new Problem(v.offset(), where + ": floating point fields are not part of CRIU images");
            default:
                return integerField(f, integerValue(f, o, v), v.offset());
        }
    }

    private static BigInteger integerValue(FieldDescriptor f, cryo_field_opts o, Json.Value v) throws Problem {
        String where = f.getFullName();
        try {
            if (v instanceof Json.Num num) {
                if (!num.integral() || num.text().length() > 200) {
                    throw new Problem(v.offset(), where + " must be an integer, not " + num.text());
                }
                return new BigInteger(num.text());
            }
            if (v instanceof Json.Str s) {
                String t = s.value();
                if (o.getDev()) {
                    return DeviceText.parse(t, o.getOdev());
                }
                if (o.hasFlags()) {
                    var table = FlagTable.named(o.getFlags());
                    if (table.isPresent()) {
                        return table.get().parse(t);
                    }
                }
                if (o.hasDict()) {
                    for (Map.Entry<Long, String> e : DICTS.getOrDefault(o.getDict(), Map.of())
                            .getOrDefault(f.getName(), Map.of()).entrySet()) {
                        if (e.getValue().equals(t)) {
                            return BigInteger.valueOf(e.getKey());
                        }
                    }
                }
                return IntText.parse(t);
            }
        } catch (IllegalArgumentException e) {
            throw new Problem(v.offset(), where + ": " + e.getMessage());
        }
        throw new Problem(v.offset(), where + " must be an integer or a string, not " + v.kind());
    }

    /** Range-checks like Python protobuf's setattr and converts to the Java type of the field. */
    private static Object integerField(FieldDescriptor f, BigInteger n, int offset) throws Problem {
        boolean ok;
        Object out;
        switch (f.getType()) {
            case INT32, SINT32, SFIXED32 -> {
                ok = n.bitLength() <= 31;
                out = n.intValue();
            }
            case UINT32, FIXED32 -> {
                ok = n.signum() >= 0 && n.compareTo(TWO_32) < 0;
                out = n.intValue();
            }
            case INT64, SINT64, SFIXED64 -> {
                ok = n.bitLength() <= 63;
                out = n.longValue();
            }
            case UINT64, FIXED64 -> {
                ok = n.signum() >= 0 && n.compareTo(TWO_64) < 0;
                out = n.longValue();
            }
            default -> throw new Problem(offset, f.getFullName() + " has unsupported type " + f.getType());
        }
        if (!ok) {
            String shown = n.bitLength() > 200 ? "with " + n.bitLength() + " bits" : n.toString();
            throw new Problem(offset, "value " + shown + " out of range for " + f.getType().name().toLowerCase()
                    + " field " + f.getFullName());
        }
        return out;
    }

    private static int unpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }

    private static Json.Str string(FieldDescriptor f, Json.Value v) throws Problem {
        if (v instanceof Json.Str s) {
            return s;
        }
        throw new Problem(v.offset(), f.getFullName() + " must be a string, not " + v.kind());
    }

    private static String text(Json.Value v) {
        if (v instanceof Json.Str s) {
            String t = s.value();
            return "\"" + (t.length() > 40 ? t.substring(0, 40) + "..." : t) + "\"";
        }
        if (v instanceof Json.Num n) {
            return n.text().length() > 40 ? n.text().substring(0, 40) + "..." : n.text();
        }
        return v.kind();
    }
}
