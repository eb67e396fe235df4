package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;

/**
 * A socket address: inet (4 bytes), inet6 (16 bytes) or unix (the path bytes; abstract names start with 0).
 * Port is in host order.
 */
public record SockAddr(int family, byte[] addr, int port) {
    public static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    static final int SIZE = 128;

    public static SockAddr decode(NativeBuffer b, int len) {
        int family = (b.getInt(0) & 0xffff);
        return switch (family) {
            case AF_INET -> new SockAddr(family, b.bytes(4, 4), port(b));
            case AF_INET6 -> new SockAddr(family, b.bytes(8, 16), port(b));
            case AF_UNIX -> new SockAddr(family, b.bytes(2, Math.max(0, len - 2)), 0);
            default -> new SockAddr(family, new byte[0], 0);
        };
    }

    private static int port(NativeBuffer b) {
        byte[] p = b.bytes(2, 2);
        return (p[0] & 0xff) << 8 | (p[1] & 0xff);
    }

    /** Writes a sockaddr into {@code b}; returns its length. */
    public int encode(NativeBuffer b) {
        b.clear();
        b.put(0, new byte[]{(byte) family, (byte) (family >> 8)});
        switch (family) {
            case AF_INET -> {
                b.put(2, new byte[]{(byte) (port >> 8), (byte) port});
                b.put(4, addr);
                return 16;
            }
            case AF_INET6 -> {
                b.put(2, new byte[]{(byte) (port >> 8), (byte) port});
                b.put(8, addr);
                return 28;
            }
            case AF_UNIX -> {
                b.put(2, addr);
                return 2 + addr.length;
            }
            default -> throw new IllegalArgumentException("address family " + family);
        }
    }

    /** The address as CRIU's images hold it: 32-bit words of the network-order bytes, read in host order. */
    public java.util.List<Integer> words() {
        java.util.List<Integer> out = new java.util.ArrayList<>();
        for (int i = 0; i + 4 <= addr.length; i += 4) {
            out.add((addr[i] & 0xff) | (addr[i + 1] & 0xff) << 8 | (addr[i + 2] & 0xff) << 16 | (addr[i + 3] & 0xff) << 24);
        }
        return out;
    }

    public static SockAddr ofWords(int family, java.util.List<Integer> words, int port) {
        int n = family == AF_INET6 ? 16 : 4;
        byte[] a = new byte[n];
        for (int i = 0; i < words.size() && i * 4 < n; i++) {
            int w = words.get(i);
            a[i * 4] = (byte) w;
            a[i * 4 + 1] = (byte) (w >> 8);
            a[i * 4 + 2] = (byte) (w >> 16);
            a[i * 4 + 3] = (byte) (w >> 24);
        }
        return new SockAddr(family, a, port);
    }

    public boolean isAbstract() {
        return family == AF_UNIX && addr.length > 0 && addr[0] == 0;
    }

    @Override
    public String toString() {
        if (family == AF_UNIX) {
            if (addr.length == 0) {
                return "(unnamed)";
            }
            return isAbstract() ? "@" + new String(addr, 1, trimmed() - 1) : new String(addr, 0, trimmed());
        }
        try {
            String h = InetAddress.getByAddress(addr).getHostAddress();
            return (family == AF_INET6 ? "[" + h + "]" : h) + ":" + port;
        } catch (UnknownHostException e) {
            return Arrays.toString(addr) + ":" + port;
        }
    }

    private int trimmed() {
        int n = addr.length;
        while (n > 1 && addr[n - 1] == 0 && !(isAbstract() && n == 1)) {
            n--;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SockAddr s && s.family == family && s.port == port && Arrays.equals(s.addr, addr);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(addr) * 31 + family * 7 + port;
    }
}
