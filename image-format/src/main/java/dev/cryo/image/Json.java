package dev.cryo.image;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON subset crit reads and writes: a strict parser that remembers where each value starts (for error
 * offsets) and a printer that matches Python's {@code json.dump(obj, f, indent=4)} byte for byte.
 */
final class Json {
    /** Deeper nesting than any image needs; stops stack exhaustion on hostile input. */
    static final int MAX_DEPTH = 512;

    private Json() {
    }

    /** A parsed value and the character offset where it starts. */
    sealed interface Value permits Obj, Arr, Str, Num, Bool, Null {
        int offset();

        default String kind() {
            if (this instanceof Obj) {
                return "an object";
            } else if (this instanceof Arr) {
                return "a list";
            } else if (this instanceof Str) {
                return "a string";
            } else if (this instanceof Num) {
                return "a number";
            } else if (this instanceof Bool) {
                return "a boolean";
            }
            return "null";
        }
    }

    /** An object; {@code keyOffsets} says where each key starts, for errors about the key itself. */
    record Obj(Map<String, Value> members, Map<String, Integer> keyOffsets, int offset) implements Value {
        int keyOffset(String key) {
            return keyOffsets.getOrDefault(key, offset);
        }
    }

    record Arr(List<Value> items, int offset) implements Value {
    }

    record Str(String value, int offset) implements Value {
    }

    /** A number as written; integers are converted by the caller, which knows the range it needs. */
    record Num(String text, int offset) implements Value {
        boolean integral() {
            return text.indexOf('.') < 0 && text.indexOf('e') < 0 && text.indexOf('E') < 0;
        }
    }

    record Bool(boolean value, int offset) implements Value {
    }

    record Null(int offset) implements Value {
    }

    /** Thrown for malformed JSON; carries the offset. */
    static final class SyntaxError extends Exception {
        private static final long serialVersionUID = 1L;
        final int offset;

        SyntaxError(int offset, String message) {
            super(message, null, false, false);
            this.offset = offset;
        }
    }

    static Value parse(String text) throws SyntaxError {
        Parser p = new Parser(text);
        p.ws();
        Value v = p.value(0);
        p.ws();
        if (p.pos < text.length()) {
            throw new SyntaxError(p.pos, "unexpected text after the JSON value");
        }
        return v;
    }

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        void ws() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        Value value(int depth) throws SyntaxError {
            if (depth > MAX_DEPTH) {
                throw new SyntaxError(pos, "nesting deeper than " + MAX_DEPTH + " levels");
            }
            if (pos >= s.length()) {
                throw new SyntaxError(pos, "unexpected end of JSON");
            }
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object(depth);
                case '[' -> array(depth);
                case '"' -> {
                    int start = pos;
                    yield new Str(string(), start);
                }
                case 't' -> literal("true", new Bool(true, pos));
                case 'f' -> literal("false", new Bool(false, pos));
                case 'n' -> literal("null", new Null(pos));
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw new SyntaxError(pos, "unexpected character '" + printable(c) + "'");
                }
            };
        }

        private Value literal(String word, Value v) throws SyntaxError {
            if (!s.startsWith(word, pos)) {
                throw new SyntaxError(pos, "unexpected character '" + printable(s.charAt(pos)) + "'");
            }
            pos += word.length();
            return v;
        }

        private Obj object(int depth) throws SyntaxError {
            int start = pos++;
            Map<String, Value> members = new LinkedHashMap<>();
            Map<String, Integer> keyOffsets = new java.util.HashMap<>();
            ws();
            if (peek() == '}') {
                pos++;
                return new Obj(members, keyOffsets, start);
            }
            while (true) {
                ws();
                if (peek() != '"') {
                    throw new SyntaxError(pos, "expected a quoted key");
                }
                int keyAt = pos;
                String key = string();
                ws();
                expect(':');
                ws();
                Value v = value(depth + 1);
                if (members.put(key, v) != null) {
                    throw new SyntaxError(keyAt, "duplicate key \"" + key + "\"");
                }
                keyOffsets.put(key, keyAt);
                ws();
                char c = peek();
                pos++;
                if (c == '}') {
                    return new Obj(members, keyOffsets, start);
                }
                if (c != ',') {
                    throw new SyntaxError(pos - 1, "expected ',' or '}'");
                }
            }
        }

        private Arr array(int depth) throws SyntaxError {
            int start = pos++;
            List<Value> items = new ArrayList<>();
            ws();
            if (peek() == ']') {
                pos++;
                return new Arr(items, start);
            }
            while (true) {
                ws();
                items.add(value(depth + 1));
                ws();
                char c = peek();
                pos++;
                if (c == ']') {
                    return new Arr(items, start);
                }
                if (c != ',') {
                    throw new SyntaxError(pos - 1, "expected ',' or ']'");
                }
            }
        }

        private String string() throws SyntaxError {
            int start = pos++;
            StringBuilder b = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw new SyntaxError(start, "unterminated string");
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw new SyntaxError(pos - 1, "control character in string");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw new SyntaxError(start, "unterminated string");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"' -> b.append('"');
                    case '\\' -> b.append('\\');
                    case '/' -> b.append('/');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        if (pos + 4 > s.length()) {
                            throw new SyntaxError(pos - 2, "truncated \\u escape");
                        }
                        int v = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos + i), 16);
                            if (d < 0) {
                                throw new SyntaxError(pos - 2, "invalid \\u escape");
                            }
                            v = v << 4 | d;
                        }
                        pos += 4;
                        b.append((char) v);
                    }
                    default -> throw new SyntaxError(pos - 2, "invalid escape '\\" + printable(e) + "'");
                }
            }
        }

        private Num number() throws SyntaxError {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            if (peek() == '0') {
                pos++;
            } else if (isDigit(peek())) {
                while (isDigit(peek())) {
                    pos++;
                }
            } else {
                throw new SyntaxError(start, "invalid number");
            }
            if (peek() == '.') {
                pos++;
                if (!isDigit(peek())) {
                    throw new SyntaxError(start, "invalid number");
                }
                while (isDigit(peek())) {
                    pos++;
                }
            }
            if (peek() == 'e' || peek() == 'E') {
                pos++;
                if (peek() == '+' || peek() == '-') {
                    pos++;
                }
                if (!isDigit(peek())) {
                    throw new SyntaxError(start, "invalid number");
                }
                while (isDigit(peek())) {
                    pos++;
                }
            }
            return new Num(s.substring(start, pos), start);
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }

        private char peek() {
            return pos < s.length() ? s.charAt(pos) : '\0';
        }

        private void expect(char c) throws SyntaxError {
            if (peek() != c) {
                throw new SyntaxError(pos, "expected '" + c + "'");
            }
            pos++;
        }
    }

    static String printable(char c) {
        return c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c);
    }

    // ---- printing, as Python's json.dump(indent=4, ensure_ascii=True)

    /** Builds output in Python's layout; values are Map, List, String, Boolean, or a pre-rendered number. */
    static String print(Object value) {
        StringBuilder b = new StringBuilder();
        print(b, value, 0);
        return b.toString();
    }

    /** One line, as Python's {@code json.dump(obj, f)} without indent: ", " and ": " separators. */
    static String printCompact(Object value) {
        StringBuilder b = new StringBuilder();
        print(b, value, -1);
        return b.toString();
    }

    /** A number already rendered as its decimal digits. */
    record Raw(String text) {
    }

    /** {@code level} -1 prints on one line. */
    @SuppressWarnings("unchecked")
    private static void print(StringBuilder b, Object v, int level) {
        boolean compact = level < 0;
        if (compact && (v instanceof Map<?, ?> || v instanceof List<?>)) {
            boolean map = v instanceof Map<?, ?>;
            b.append(map ? '{' : '[');
            boolean first = true;
            Iterable<?> items = map ? ((Map<String, Object>) v).entrySet() : (List<?>) v;
            for (Object item : items) {
                if (!first) {
                    b.append(", ");
                }
                first = false;
                if (map) {
                    Map.Entry<String, Object> e = (Map.Entry<String, Object>) item;
                    quote(b, e.getKey());
                    b.append(": ");
                    print(b, e.getValue(), -1);
                } else {
                    print(b, item, -1);
                }
            }
            b.append(map ? '}' : ']');
            return;
        }
        if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                b.append("{}");
                return;
            }
            b.append("{\n");
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) m).entrySet()) {
                if (!first) {
                    b.append(",\n");
                }
                first = false;
                indent(b, level + 1);
                quote(b, e.getKey());
                b.append(": ");
                print(b, e.getValue(), level + 1);
            }
            b.append('\n');
            indent(b, level);
            b.append('}');
        } else if (v instanceof List<?> l) {
            if (l.isEmpty()) {
                b.append("[]");
                return;
            }
            b.append("[\n");
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    b.append(",\n");
                }
                indent(b, level + 1);
                print(b, l.get(i), level + 1);
            }
            b.append('\n');
            indent(b, level);
            b.append(']');
        } else if (v instanceof String s) {
            quote(b, s);
        } else if (v instanceof Boolean bool) {
            b.append(bool ? "true" : "false");
        } else if (v instanceof Raw r) {
            b.append(r.text());
        } else if (v instanceof java.math.BigInteger || v instanceof Long || v instanceof Integer) {
            b.append(v);
        } else if (v == null) {
            b.append("null");
        } else {
            throw new IllegalArgumentException("cannot print " + v.getClass());
        }
    }

    private static void indent(StringBuilder b, int level) {
        b.append(" ".repeat(4 * level));
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }
}
