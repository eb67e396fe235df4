package dev.cryo.image;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Quoted-printable as crit renders unix socket names (Python's binascii.b2a_qp / a2b_qp with istext=True,
 * quotetabs=False, header=False): 76-column lines, soft breaks "=\n", trailing blanks escaped.
 */
final class QuotedPrintable {
    private static final int MAX_LINE = 76;
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private QuotedPrintable() {
    }

    /**
     * crit's rendering, except where crit's text mode would change line ends ("\r\n" read back as "\n", or the
     * reverse): then CR and LF are escaped as =0D/=0A, which crit reads back exactly.
     */
    static String encode(byte[] in) {
        String text = encode(in, true);
        return java.util.Arrays.equals(decode(text), in) ? text : encode(in, false);
    }

    private static String encode(byte[] in, boolean istext) {
        int n = in.length;
        boolean crlf = false;
        for (int i = 0; i < n; i++) {
            if (in[i] == '\n') {
                crlf = i > 0 && in[i - 1] == '\r';
                break;
            }
        }
        StringBuilder out = new StringBuilder();
        int line = 0;
        int i = 0;
        while (i < n) {
            int c = in[i] & 0xff;
            if (mustQuote(in, i, line) || (!istext && (c == '\r' || c == '\n'))) {
                if (line + 3 >= MAX_LINE) {
                    softBreak(out, crlf);
                    line = 0;
                }
                out.append('=').append(HEX[c >> 4]).append(HEX[c & 15]);
                i++;
                line += 3;
            } else if (istext && (c == '\n' || (i + 1 < n && c == '\r' && in[i + 1] == '\n'))) {
                line = 0;
                int last = out.length() - 1;
                if (last >= 0 && (out.charAt(last) == ' ' || out.charAt(last) == '\t')) {
                    char blank = out.charAt(last);
                    out.setCharAt(last, '=');
                    out.append(HEX[blank >> 4]).append(HEX[blank & 15]);
                }
                if (crlf) {
                    out.append('\r');
                }
                out.append('\n');
                i += c == '\r' ? 2 : 1;
            } else {
                if (i + 1 != n && in[i + 1] != '\n' && line + 1 >= MAX_LINE) {
                    softBreak(out, crlf);
                    line = 0;
                }
                line++;
                out.append((char) c);
                i++;
            }
        }
        return out.toString();
    }

    private static boolean mustQuote(byte[] in, int i, int line) {
        int c = in[i] & 0xff;
        int n = in.length;
        return c > 126
                || c == '='
                || (c == '.' && line == 0 && (i + 1 == n || in[i + 1] == '\n' || in[i + 1] == '\r' || in[i + 1] == 0))
                || ((c == '\t' || c == ' ') && i + 1 == n)
                || (c < 33 && c != '\r' && c != '\n' && c != '\t' && c != ' ');
    }

    private static void softBreak(StringBuilder out, boolean crlf) {
        out.append('=');
        if (crlf) {
            out.append('\r');
        }
        out.append('\n');
    }

    /** Decodes; the text must be ASCII, as Python's a2b_qp demands of a str. */
    static byte[] decode(String s) {
        for (int k = 0; k < s.length(); k++) {
            if (s.charAt(k) > 0x7f) {
                throw new IllegalArgumentException("quoted-printable text may only contain ASCII characters");
            }
        }
        byte[] in = s.getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length);
        int n = in.length;
        int i = 0;
        while (i < n) {
            if (in[i] == '=') {
                i++;
                if (i >= n) {
                    break;
                }
                if (in[i] == '\n' || in[i] == '\r') {
                    if (in[i] != '\n') {
                        while (i < n && in[i] != '\n') {
                            i++;
                        }
                    }
                    if (i < n) {
                        i++;
                    }
                } else if (in[i] == '=') {
                    out.write('=');
                    i++;
                } else if (i + 1 < n && Character.digit(in[i], 16) >= 0 && Character.digit(in[i + 1], 16) >= 0) {
                    out.write(Character.digit(in[i], 16) << 4 | Character.digit(in[i + 1], 16));
                    i += 2;
                } else {
                    out.write('=');
                }
            } else {
                out.write(in[i++]);
            }
        }
        return out.toByteArray();
    }
}
