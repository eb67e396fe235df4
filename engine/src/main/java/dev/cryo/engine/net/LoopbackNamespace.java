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

    /**
     * What CRIU writes of a network namespace beside netdev-ID.img, as raw images (another tool's output): the
     * addresses ({@code ip addr save}: ifaddr-ID.img), the main table's routes ({@code ip route save}:
     * route-ID.img, route6-ID.img) and the iptables rules (iptables-save's text: iptables-ID.img, ip6tables-ID.img).
     * Cryo makes lo again and nothing else, so images holding more (an address besides 127.0.0.1 and ::1, a route, a
     * rule other than CRIU's own network lock, a chain policy other than ACCEPT) are refused, naming it, rather than
     * restored without it. Cryo's own images have none of these files.
     */
    public static void checkCriuImages(Path dir, int nsId, String who) throws CryoException {
        try {
            Path ifaddr = dir.resolve("ifaddr-" + nsId + ".img");
            if (Files.exists(ifaddr)) {
                List<String> extra = extraSavedAddresses(Files.readAllBytes(ifaddr));
                if (!extra.isEmpty()) {
                    throw new CryoException(who + "ifaddr-" + nsId + ".img holds the address(es) " + String.join(", ",
                            extra) + " besides lo's own, which Cryo cannot restore yet");
                }
            }
            for (String route : new String[]{"route-", "route6-"}) {
                Path p = dir.resolve(route + nsId + ".img");
                if (Files.exists(p) && Files.size(p) > 4) { // ip route save's magic alone: no route
                    throw new CryoException(who + p.getFileName() + " holds routes of the network namespace's main "
                            + "table, which Cryo cannot restore yet");
                }
            }
            for (String table : new String[]{"iptables-", "ip6tables-"}) {
                Path p = dir.resolve(table + nsId + ".img");
                if (Files.exists(p)) {
                    List<String> rules = foreignRules(Files.readAllLines(p, StandardCharsets.UTF_8));
                    if (!rules.isEmpty()) {
                        throw new CryoException(who + p.getFileName() + " holds firewall rules (" + String.join("; ",
                                rules) + "), which Cryo cannot restore yet");
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new CryoException(who + "cannot read the network namespace's images " + nsId + ": " + e.getMessage(), e);
        }
    }

    /**
     * The addresses of an {@code ip addr save} dump (a 4-byte magic, then RTM_NEWADDR netlink messages) other than
     * 127.0.0.1/8 and ::1/128.
     */
    static List<String> extraSavedAddresses(byte[] b) {
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        List<String> out = new ArrayList<>();
        int at = 4;
        while (at + 24 <= b.length) {
            int len = buf.getInt(at), type = buf.getShort(at + 4) & 0xffff;
            if (len < 24 || at + len > b.length) {
                break;
            }
            int family = b[at + 16] & 0xff, prefix = b[at + 17] & 0xff;
            byte[] addr = null;
            for (int a = at + 24; a + 4 <= at + len; ) {
                int alen = buf.getShort(a) & 0xffff, atype = buf.getShort(a + 2) & 0xffff;
                if (alen < 4) {
                    break;
                }
                if ((atype == 2 /* IFA_LOCAL */ || atype == 1 /* IFA_ADDRESS */ && addr == null) && alen > 4) {
                    addr = java.util.Arrays.copyOfRange(b, a + 4, a + alen);
                }
                a += (alen + 3) & ~3;
            }
            if (type == 20 /* RTM_NEWADDR */ && addr != null) {
                String text;
                try {
                    text = java.net.InetAddress.getByAddress(addr).getHostAddress() + "/" + prefix;
                } catch (java.net.UnknownHostException e) {
                    text = "family " + family + " address of " + addr.length + " bytes";
                }
                boolean lo4 = family == 2 && prefix == 8 && text.equals("127.0.0.1/8");
                boolean lo6 = family == 10 && prefix == 128 && addr.length == 16 && addr[15] == 1
                        && java.util.Arrays.equals(java.util.Arrays.copyOf(addr, 15), new byte[15]);
                if (!lo4 && !lo6) {
                    out.add(text);
                }
            }
            at += (len + 3) & ~3;
        }
        return out;
    }

    /**
     * The rules and non-ACCEPT built-in chain policies of iptables-save's text, but CRIU's own network lock (its
     * CRIU chain and the jumps to it), which CRIU's restore lifts too.
     */
    static List<String> foreignRules(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String l : lines) {
            String t = l.strip();
            if (t.startsWith("-A ") && !t.startsWith("-A CRIU ") && !t.endsWith("-j CRIU")) {
                out.add(t);
            } else if (t.startsWith(":") && !t.startsWith(":CRIU ")) {
                String[] f = t.substring(1).split("\\s+");
                if (f.length >= 2 && !f[1].equals("ACCEPT") && !f[1].equals("-")) {
                    out.add("chain " + f[0] + " policy " + f[1]);
                }
            }
        }
        return out;
    }
}
