package dev.cryo.image;

import java.util.Base64;

/** Base64 as crit writes payloads and bytes fields: Python's base64.encodebytes (76-column lines, each ending "\n"). */
final class Base64Text {
    private static final int LINE_BYTES = 57;

    private Base64Text() {
    }

    static String encode(byte[] data, int from, int to) {
        StringBuilder b = new StringBuilder((to - from) * 4 / 3 + (to - from) / LINE_BYTES + 4);
        Base64.Encoder enc = Base64.getEncoder();
        for (int i = from; i < to; i += LINE_BYTES) {
            int end = Math.min(to, i + LINE_BYTES);
            b.append(enc.encodeToString(java.util.Arrays.copyOfRange(data, i, end))).append('\n');
        }
        return b.toString();
    }

    static String encode(byte[] data) {
        return encode(data, 0, data.length);
    }

    /** Lenient like Python's decodebytes: characters outside the alphabet (newlines) are skipped. */
    static byte[] decode(String text) {
        return Base64.getMimeDecoder().decode(text);
    }
}
