package dev.cryo.engine.net;

import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.ip_opts_entry;
import dev.cryo.image.proto.ip_opts_raw_entry;

/**
 * The IP-level options of an inet socket that CRIU keeps in {@code ip_opts_entry}: IP_FREEBIND, IP_PKTINFO
 * (IPV6_RECVPKTINFO), IP_TOS (IPV6_TCLASS), IP_TTL (IPV6_UNICAST_HOPS), and for a raw socket IP_HDRINCL
 * (IPV6_HDRINCL), IP_NODEFRAG, IPV6_CHECKSUM and its ICMP filter. A DNS server that learns each datagram's
 * destination through IP_PKTINFO gets none after a restore that loses it. Each is set again only where the new
 * socket's own value differs, so a default stays a default (a TTL that follows the sysctl). FREEBIND goes first: a
 * socket bound to an address the host does not have (yet) binds again only with it.
 */
public final class IpOptions {
    static final int IPPROTO_IP = 0, IPPROTO_IPV6 = 41, SOL_RAW = 255, IPPROTO_ICMPV6 = 58;
    static final int IP_TOS = 1, IP_TTL = 2, IP_HDRINCL = 3, IP_PKTINFO = 8, IP_FREEBIND = 15, IP_NODEFRAG = 22,
            ICMP_FILTER = 1;
    static final int IPV6_CHECKSUM = 7, IPV6_UNICAST_HOPS = 16, IPV6_RECVPKTINFO = 49, IPV6_TCLASS = 67,
            IPV6_FREEBIND = 78, IPV6_HDRINCL = 36, ICMPV6_FILTER = 1;
    static final int SOCK_RAW = 3;

    private IpOptions() {
    }

    /** The options of {@code s} (family, type and protocol as the socket has them). */
    public static ip_opts_entry dump(SocketFd s, int family, int type, int proto) throws SyscallException {
        boolean v6 = family == SockAddr.AF_INET6;
        int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
        var b = ip_opts_entry.newBuilder()
                .setFreebind(flag(s, level, v6 ? IPV6_FREEBIND : IP_FREEBIND))
                .setPktinfo(flag(s, level, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO));
        int tos = get(s, level, v6 ? IPV6_TCLASS : IP_TOS), ttl = get(s, level, v6 ? IPV6_UNICAST_HOPS : IP_TTL);
        if (tos >= 0) {
            b.setTos(tos);
        }
        if (ttl >= 0) {
            b.setTtl(ttl);
        }
        if (type == SOCK_RAW) {
            var raw = ip_opts_raw_entry.newBuilder().setHdrincl(flag(s, level, v6 ? IPV6_HDRINCL : IP_HDRINCL));
            if (!v6) {
                raw.setNodefrag(flag(s, IPPROTO_IP, IP_NODEFRAG));
                if (proto == 1 /* IPPROTO_ICMP */) {
                    raw.addIcmpvFilter(get(s, SOL_RAW, ICMP_FILTER));
                }
            } else {
                raw.setChecksum(get(s, IPPROTO_IPV6, IPV6_CHECKSUM) >= 0);
                if (proto == IPPROTO_ICMPV6) {
                    byte[] f = s.getBytes(IPPROTO_ICMPV6, ICMPV6_FILTER, 32);
                    for (int i = 0; i + 4 <= f.length; i += 4) {
                        raw.addIcmpvFilter((f[i] & 0xff) | (f[i + 1] & 0xff) << 8 | (f[i + 2] & 0xff) << 16
                                | (f[i + 3] & 0xff) << 24);
                    }
                }
            }
            b.setRaw(raw);
        }
        return b.build();
    }

    /** What must be set before bind: FREEBIND. */
    public static void restoreBeforeBind(SocketFd s, int family, ip_opts_entry o) throws SyscallException {
        boolean v6 = family == SockAddr.AF_INET6;
        if (o.getFreebind()) {
            s.setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, 1);
        }
    }

    /** IP_FREEBIND (IPV6_FREEBIND) on or off. */
    public static void freebind(SocketFd s, int family, boolean on) throws SyscallException {
        boolean v6 = family == SockAddr.AF_INET6;
        s.setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, on ? 1 : 0);
    }

    /** The rest, each only where the new socket's value differs. */
    public static void restore(SocketFd s, int family, int type, int proto, ip_opts_entry o) throws SyscallException {
        boolean v6 = family == SockAddr.AF_INET6;
        int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
        setIfDiffers(s, level, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, o.hasPktinfo(), o.getPktinfo() ? 1 : 0);
        setIfDiffers(s, level, v6 ? IPV6_TCLASS : IP_TOS, o.hasTos(), o.getTos());
        setIfDiffers(s, level, v6 ? IPV6_UNICAST_HOPS : IP_TTL, o.hasTtl(), o.getTtl());
        if (type != SOCK_RAW || !o.hasRaw()) {
            return;
        }
        ip_opts_raw_entry raw = o.getRaw();
        setIfDiffers(s, level, v6 ? IPV6_HDRINCL : IP_HDRINCL, raw.hasHdrincl(), raw.getHdrincl() ? 1 : 0);
        if (!v6) {
            setIfDiffers(s, IPPROTO_IP, IP_NODEFRAG, raw.hasNodefrag(), raw.getNodefrag() ? 1 : 0);
            if (proto == 1 && raw.getIcmpvFilterCount() == 1) {
                setIfDiffers(s, SOL_RAW, ICMP_FILTER, true, raw.getIcmpvFilter(0));
            }
        } else if (proto == IPPROTO_ICMPV6 && raw.getIcmpvFilterCount() == 8) {
            byte[] f = new byte[32];
            for (int i = 0; i < 8; i++) {
                int w = raw.getIcmpvFilter(i);
                f[4 * i] = (byte) w;
                f[4 * i + 1] = (byte) (w >> 8);
                f[4 * i + 2] = (byte) (w >> 16);
                f[4 * i + 3] = (byte) (w >> 24);
            }
            s.setBytes(IPPROTO_ICMPV6, ICMPV6_FILTER, f);
        }
    }

    private static void setIfDiffers(SocketFd s, int level, int opt, boolean present, int value)
            throws SyscallException {
        if (present && get(s, level, opt) != value) {
            s.setInt(level, opt, value);
        }
    }

    private static boolean flag(SocketFd s, int level, int opt) {
        return get(s, level, opt) > 0;
    }

    /** The option's int value; -1 where this socket has no such option (ENOPROTOOPT, a kernel without it). */
    private static int get(SocketFd s, int level, int opt) {
        try {
            return s.getInt(level, opt);
        } catch (SyscallException e) {
            return -1;
        }
    }
}
