package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The protocol of a socket as sockfs names it ("TCP", "TCPv6", "UDP", "UDPv6", "UNIX", ...), read without taking the fd. */
public final class SocketProtocol {
    private SocketProtocol() {
    }

    /** getxattr("system.sockprotoname") on /proc/PID/fd/N; "" when the socket is gone or has no name. */
    public static String of(Path fdLink) {
        byte[] path = (fdLink.toString() + "\0").getBytes(StandardCharsets.UTF_8);
        byte[] name = "system.sockprotoname\0".getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(path.length + name.length + 64);
        b.put(0, path);
        b.put(path.length, name);
        long at = b.address() + path.length + name.length;
        long n = Syscall.raw(Syscall.GETXATTR, b.address(), b.address() + path.length, at, 64);
        if (n <= 0) {
            return "";
        }
        byte[] v = b.bytes(path.length + name.length, (int) n);
        int len = 0;
        while (len < v.length && v[len] != 0) {
            len++;
        }
        return new String(v, 0, len, StandardCharsets.US_ASCII);
    }
}
