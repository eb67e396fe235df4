package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.image.proto.nd_type;
import dev.cryo.image.proto.net_device_entry;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A network namespace of a tree's own that holds the loopback device alone ({@code unshare -n}, a sandbox with no
 * network): what Cryo dumps of one, and makes again on restore. Its state is lo's flags and MTU, saved as CRIU saves a
 * device (netdev-ID.img, a LOOPBACK entry); the addresses and routes lo gets are the kernel's own once it is up
 * (127.0.0.1/8 and ::1), so a namespace with any other device, address, route or nf_tables table (iptables-nft's
 * rules too) is refused at the dump, naming it, rather than restored without it. Its sysctls are not dumped (the log
 * says so).
 */
public final class LoopbackNamespace {
    static final int SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, SIOCGIFMTU = 0x8921, SIOCSIFMTU = 0x8922;
    static final int IFF_UP = 0x1, IFREQ_SIZE = 40, AF_INET = 2;
    /** lo's MTU in a new namespace. */
    static final int DEFAULT_MTU = 65536;

    private LoopbackNamespace() {
    }

    /**
     * lo of {@code pid}'s network namespace, as netdev-ID.img's entry; refuses a namespace with more than lo (devices,
     * addresses, routes), naming what it found.
     */
    public static net_device_entry dump(int pid) throws CryoException {
        Path net = Path.of("/proc/" + pid + "/net");
        String ns;
        try {
            ns = "network namespace (" + Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/net")) + ")";
        } catch (IOException e) {
            ns = "network namespace";
        }
        try {
            List<String> others = new ArrayList<>();
            for (String dev : devices(Files.readAllLines(net.resolve("dev")))) {
                if (!dev.equals("lo")) {
                    others.add(dev);
                }
            }
            if (!others.isEmpty()) {
                throw new CryoException("cannot dump pid " + pid + ": its own " + ns + " has the device(s) "
                        + String.join(", ", others) + " besides lo; Cryo dumps a network namespace of a tree's own only "
                        + "when it holds lo alone (dump it as external with --external net[INO]:KEY, or run Cryo in it)");
            }
            List<String> extra = new ArrayList<>(extraIpv4(Files.readAllLines(net.resolve("fib_trie"))));
            extra.addAll(extraIpv6(linesIfAny(net.resolve("if_inet6"))));
            if (!extra.isEmpty()) {
                throw new CryoException("cannot dump pid " + pid + ": lo in its " + ns + " has the address(es) "
                        + String.join(", ", extra) + " besides 127.0.0.1 and ::1, which Cryo cannot restore yet");
            }
            List<String> routes = Files.readAllLines(net.resolve("route"));
            if (routes.size() > 1) {
                throw new CryoException("cannot dump pid " + pid + ": its own " + ns + " has routes in the main "
                        + "table (" + (routes.size() - 1) + " in /proc/" + pid + "/net/route), which Cryo cannot "
                        + "restore yet");
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its " + ns + " in " + net + ": "
                    + e.getMessage(), e);
        }
        int[] state;
        List<String> tables = new ArrayList<>();
        try {
            state = NetNamespace.call(NetNamespace.of(pid), () -> {
                try (SocketFd nf = NfTables.open()) {
                    for (String t : NfTables.tables(nf)) {
                        if (!t.startsWith("inet " + NetworkLock.TABLE_PREFIX)) { // Cryo's own lock, of a dump before
                            tables.add(t);
                        }
                    }
                } catch (dev.cryo.engine.sys.SyscallException e) {
                    // no nf_tables in this kernel: no rules of that kind either
                }
                try (SocketFd s = SocketFd.open(AF_INET, SocketFd.SOCK_DGRAM, 0)) {
                    NativeBuffer req = ifreq();
                    Syscall.call("ioctl(SIOCGIFFLAGS, lo)", Syscall.IOCTL, s.fd(), SIOCGIFFLAGS, req.address());
                    int flags = req.getInt(16) & 0xffff;
                    req = ifreq();
                    Syscall.call("ioctl(SIOCGIFMTU, lo)", Syscall.IOCTL, s.fd(), SIOCGIFMTU, req.address());
                    return new int[]{flags, req.getInt(16)};
                }
            });
        } catch (Exception e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read lo of its " + ns + ": " + e.getMessage(), e);
        }
        if (!tables.isEmpty()) {
            throw new CryoException("cannot dump pid " + pid + ": its own " + ns + " has firewall rules (nf_tables "
                    + "table(s) " + String.join(", ", tables) + "), which Cryo cannot dump yet: restored without them, "
                    + "it would accept what they drop");
        }
        return net_device_entry.newBuilder().setType(nd_type.LOOPBACK).setIfindex(1).setMtu(state[1])
                .setFlags(state[0]).setName("lo").build();
    }

    /**
     * In the network namespace of {@code hostPid} (new, made with the task): lo as {@code lo} had it, up or down, with
     * its MTU.
     */
    public static void restore(int hostPid, int pid, net_device_entry lo) throws CryoException {
        try {
            NetNamespace.call(NetNamespace.of(hostPid), () -> {
                try (SocketFd s = SocketFd.open(AF_INET, SocketFd.SOCK_DGRAM, 0)) {
                    if (lo.getMtu() != DEFAULT_MTU && lo.getMtu() > 0) {
                        NativeBuffer req = ifreq();
                        req.putInt(16, lo.getMtu());
                        Syscall.call("ioctl(SIOCSIFMTU, lo, " + lo.getMtu() + ")", Syscall.IOCTL, s.fd(), SIOCSIFMTU,
                                req.address());
                    }
                    if ((lo.getFlags() & IFF_UP) != 0) {
                        NativeBuffer req = ifreq();
                        Syscall.call("ioctl(SIOCGIFFLAGS, lo)", Syscall.IOCTL, s.fd(), SIOCGIFFLAGS, req.address());
                        req.putInt(16, (req.getInt(16) & 0xffff) | IFF_UP);
                        Syscall.call("ioctl(SIOCSIFFLAGS, lo, up)", Syscall.IOCTL, s.fd(), SIOCSIFFLAGS, req.address());
                    }
                }
                return null;
            });
        } catch (Exception e) {
            throw new CryoException("cannot restore pid " + pid + ": cannot set up lo in its new network namespace: "
                    + e.getMessage(), e);
        }
    }

    /** A struct ifreq naming lo, its union zeroed. */
    private static NativeBuffer ifreq() {
        NativeBuffer b = NativeBuffer.allocate(IFREQ_SIZE);
        b.zero(0, IFREQ_SIZE);
        b.put(0, "lo".getBytes(StandardCharsets.US_ASCII));
        return b;
    }

    /** The device names of /proc/PID/net/dev (two header lines, then "NAME: counters"). */
    static List<String> devices(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (int i = 2; i < lines.size(); i++) {
            String l = lines.get(i);
            int colon = l.indexOf(':');
            if (colon > 0) {
                out.add(l.substring(0, colon).strip());
            }
        }
        return out;
    }

    /**
     * The local IPv4 addresses of /proc/PID/net/fib_trie other than 127.0.0.1, the one lo gets when it comes up: an
     * address line ("|-- A.B.C.D") followed by its "/32 host LOCAL" leaf.
     */
    static List<String> extraIpv4(List<String> lines) {
        List<String> out = new ArrayList<>();
        String last = null;
        for (String l : lines) {
            String t = l.strip();
            if (t.startsWith("|-- ")) {
                last = t.substring(4).strip();
            } else if (t.startsWith("/32 host LOCAL") && last != null && !last.equals("127.0.0.1")
                    && !out.contains(last)) {
                out.add(last);
            }
        }
        return out;
    }

    /** The IPv6 addresses of /proc/PID/net/if_inet6 other than ::1. */
    static List<String> extraIpv6(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String l : lines) {
            String[] f = l.strip().split("\\s+");
            if (f.length >= 6 && !f[0].equals("00000000000000000000000000000001")) {
                out.add(f[0] + " (" + f[5] + ")");
            }
        }
        return out;
    }

    private static List<String> linesIfAny(Path p) throws IOException {
        try {
            return Files.readAllLines(p);
        } catch (NoSuchFileException e) {
            return List.of(); // IPv6 off
        }
    }
}
