package dev.cryo.image;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * IP addresses stored as repeated uint32 in network byte order (fields marked {@code (cryo).ipadd}):
 * one word is IPv4, four are IPv6, rendered like Python's ipaddress ({@code compressed}).
 */
final class AddressText {
    private AddressText() {
    }

    static String render(List<Integer> words) {
        if (words.size() == 1) {
            int v = Integer.reverseBytes(words.get(0));
            return (v >>> 24) + "." + (v >>> 16 & 0xff) + "." + (v >>> 8 & 0xff) + "." + (v & 0xff);
        }
        List<String> hextets = new ArrayList<>(8);
        for (int w : words) {
            int v = Integer.reverseBytes(w);
            hextets.add(Integer.toHexString(v >>> 16));
            hextets.add(Integer.toHexString(v & 0xffff));
        }
        // Python's _compress_hextets: the first longest run (length > 1) of zero groups becomes "::".
        int bestStart = -1;
        int bestLen = 0;
        int start = -1;
        int len = 0;
        for (int i = 0; i < hextets.size(); i++) {
            if (hextets.get(i).equals("0")) {
                len++;
                if (start == -1) {
                    start = i;
                }
                if (len > bestLen) {
                    bestLen = len;
                    bestStart = start;
                }
            } else {
                len = 0;
                start = -1;
            }
        }
        if (bestLen > 1) {
            int end = bestStart + bestLen;
            if (end == hextets.size()) {
                hextets.add("");
            }
            hextets.subList(bestStart, end).clear();
            hextets.add(bestStart, "");
            if (bestStart == 0) {
                hextets.add(0, "");
            }
        }
        return String.join(":", hextets);
    }

    /** Parses an IPv4 or IPv6 address into network-order words (1 or 4). */
    static List<Integer> parse(String text) {
        if (text.indexOf(':') < 0) {
            return List.of(Integer.reverseBytes((int) ipv4(text)));
        }
        BigInteger v = ipv6(text);
        List<Integer> out = new ArrayList<>(4);
        for (int i = 3; i >= 0; i--) {
            out.add(Integer.reverseBytes(v.shiftRight(32 * i).intValue()));
        }
        return out;
    }

    private static long ipv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("'" + text + "' does not appear to be an IPv4 or IPv6 address");
        }
        long v = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(c -> c >= '0' && c <= '9')
                    || (p.length() > 1 && p.charAt(0) == '0')) {
                throw new IllegalArgumentException("'" + text + "' does not appear to be an IPv4 or IPv6 address");
            }
            int octet = Integer.parseInt(p);
            if (octet > 255) {
                throw new IllegalArgumentException("octet " + octet + " (> 255) in '" + text + "'");
            }
            v = v << 8 | octet;
        }
        return v;
    }

    private static BigInteger ipv6(String text) {
        String bad = "'" + text + "' does not appear to be an IPv4 or IPv6 address";
        String s = text;
        List<Integer> tail = new ArrayList<>();
        int lastColon = s.lastIndexOf(':');
        if (s.indexOf('.', lastColon) >= 0) {
            long v4 = ipv4(s.substring(lastColon + 1));
            tail.add((int) (v4 >>> 16));
            tail.add((int) (v4 & 0xffff));
            s = s.substring(0, lastColon + 1) + "0"; // placeholder group, replaced below
        }
        int dbl = s.indexOf("::");
        if (dbl >= 0 && s.indexOf("::", dbl + 1) >= 0) {
            throw new IllegalArgumentException(bad);
        }
        List<Integer> groups = new ArrayList<>();
        int fill = -1;
        if (dbl >= 0) {
            List<Integer> left = groups(s.substring(0, dbl), bad);
            List<Integer> right = groups(s.substring(dbl + 2), bad);
            groups.addAll(left);
            fill = left.size();
            groups.addAll(right);
        } else {
            groups.addAll(groups(s, bad));
        }
        if (!tail.isEmpty()) {
            groups.remove(groups.size() - 1);
            groups.addAll(tail);
        }
        if (fill >= 0) {
            if (groups.size() > 7) {
                throw new IllegalArgumentException(bad);
            }
            while (groups.size() < 8) {
                groups.add(fill, 0);
            }
        } else if (groups.size() != 8) {
            throw new IllegalArgumentException(bad);
        }
        BigInteger v = BigInteger.ZERO;
        for (int g : groups) {
            v = v.shiftLeft(16).or(BigInteger.valueOf(g));
        }
        return v;
    }

    private static List<Integer> groups(String s, String bad) {
        List<Integer> out = new ArrayList<>();
        if (s.isEmpty()) {
            return out;
        }
        for (String g : s.split(":", -1)) {
            if (g.isEmpty() || g.length() > 4) {
                throw new IllegalArgumentException(bad);
            }
            int v = 0;
            for (char c : g.toCharArray()) {
                int d = c < 0x80 ? Character.digit(c, 16) : -1;
                if (d < 0) {
                    throw new IllegalArgumentException(bad);
                }
                v = v << 4 | d;
            }
            out.add(v);
        }
        return out;
    }
}
