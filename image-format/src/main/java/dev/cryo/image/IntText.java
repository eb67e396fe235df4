package dev.cryo.image;

import java.math.BigInteger;

/** Integers as crit writes them ("0x1f", "-0x5") and reads them (Python's {@code int(text, 0)}). */
final class IntText {
    private IntText() {
    }

    /** Python's {@code "0x%x" % v}. */
    static String hex(BigInteger v) {
        return v.signum() < 0 ? "-0x" + v.negate().toString(16) : "0x" + v.toString(16);
    }

    /** Python's str.strip() for the whitespace that can appear in JSON strings. */
    static String strip(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isSpace(s.charAt(a))) {
            a++;
        }
        while (b > a && isSpace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    private static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0
                || Character.isSpaceChar(c);
    }

    /**
     * Python's {@code int(text, 0)}: optional sign, then 0x/0o/0b prefixed digits or a decimal without leading
     * zeros, single underscores allowed between digits.
     */
    static BigInteger parse(String text) throws NumberFormatException {
        String s = strip(text);
        boolean negative = false;
        int i = 0;
        if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
            negative = s.charAt(i) == '-';
            i++;
        }
        int radix = 10;
        if (s.length() - i >= 2 && s.charAt(i) == '0') {
            char p = Character.toLowerCase(s.charAt(i + 1));
            if (p == 'x' || p == 'o' || p == 'b') {
                radix = p == 'x' ? 16 : p == 'o' ? 8 : 2;
                i += 2;
                if (i < s.length() && s.charAt(i) == '_') {
                    i++; // Python accepts one underscore right after the prefix
                }
            }
        }
        StringBuilder digits = new StringBuilder();
        boolean lastUnderscore = true;
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '_') {
                if (lastUnderscore) {
                    throw new NumberFormatException("invalid literal for int() with base 0: '" + text + "'");
                }
                lastUnderscore = true;
                continue;
            }
            if (c > 0x7f || Character.digit(c, radix) < 0) {
                throw new NumberFormatException("invalid literal for int() with base 0: '" + text + "'");
            }
            digits.append(c);
            lastUnderscore = false;
        }
        if (digits.length() == 0 || lastUnderscore) {
            throw new NumberFormatException("invalid literal for int() with base 0: '" + text + "'");
        }
        if (radix == 10 && digits.charAt(0) == '0' && digits.chars().anyMatch(c -> c != '0')) {
            throw new NumberFormatException("invalid literal for int() with base 0: '" + text + "' (leading zeros)");
        }
        if (digits.length() > 200) {
            throw new NumberFormatException("integer literal too long: '" + text.substring(0, 40) + "...'");
        }
        BigInteger v = new BigInteger(digits.toString(), radix);
        return negative ? v.negate() : v;
    }
}
