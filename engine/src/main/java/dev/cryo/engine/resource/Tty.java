package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.TtyType;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.reg_file_entry;
import dev.cryo.image.proto.termios_entry;
import dev.cryo.image.proto.tty_file_entry;
import dev.cryo.image.proto.tty_info_entry;
import dev.cryo.image.proto.tty_pty_entry;
import dev.cryo.image.proto.winsize_entry;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Unix98 pseudo-terminals: the master ({@code /dev/ptmx}) and the slaves ({@code /dev/pts/N}), as CRIU writes
 * them: a TTY entry of files.img per open file ({@code tty_file_entry}, whose {@code regf_id} names a REG entry with
 * the path and flags), and one {@code tty_info_entry} per terminal end in {@code tty-info.img}, numbered as CRIU
 * numbers them (index * 2, plus 1 for the master): termios, locked termios, window size, the pty index, packet
 * mode, lock and exclusive flags, and the session and foreground group the terminal controls.
 *
 * <p>Restore makes each pair in Cryo itself: {@code /dev/ptmx} is opened until the kernel gives the image's index
 * (CRIU's way; an index in use on this host is refused, naming it), unlocked, both ends given their parameters;
 * the master goes into the task that held it (pidfd_getfd, one description), slaves are opened by path in their
 * tasks. A session leader of the tree whose session the terminal controlled takes it again as its controlling
 * terminal ({@code TIOCSCTTY}) and sets its foreground group ({@code TIOCSPGRP}), in its own task, once its fds
 * are in place. A slave whose master was held outside the tree is a shell job's terminal: dumped and restored
 * only with {@code -j}, it becomes the restorer's own terminal (its stdin, as CRIU does), or the same
 * {@code /dev/pts/N} again when the restorer has none, with the image's termios and window size.
 *
 * <p>Bytes queued in a pty whose two ends the tree holds go to {@code tty-data.img} ({@link TtyQueuedData}); those of
 * a terminal whose other end is outside are not kept (logged).
 */
public final class Tty implements FdKind {
    public static final String INFO_IMAGE = "tty-info.img";
    static final int TCGETS = 0x5401, TCSETS = 0x5402, TIOCEXCL = 0x540C, TIOCSCTTY = 0x540E, TIOCGPGRP = 0x540F,
            TIOCSPGRP = 0x5410, TIOCOUTQ = 0x5411, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414, FIONREAD = 0x541B,
            TIOCPKT = 0x5420, TIOCGSID = 0x5429, TIOCGLCKTRMIOS = 0x5456, TIOCSLCKTRMIOS = 0x5457;
    static final int TIOCGPTN = 0x80045430, TIOCSPTLCK = 0x40045431, TIOCGPKT = 0x80045438, TIOCGPTLCK = 0x80045439,
            TIOCGEXCL = 0x80045440;
    /** The kernel's struct termios (what TCGETS fills): four flag words, c_line, 19 control characters. */
    static final int TERMIOS_SIZE = 36, NCC = 19;
    static final int TTYAUX_MAJOR = 5, PTMX_MINOR = 2, PTY_MASTER_MAJOR = 128, PTY_SLAVE_MAJOR = 136, PTY_MAJORS = 8;
    static final int O_NONBLOCK = 04000;
    /** Where ioctl arguments go in the restored task's scratch page (paths use its start). */
    static final int SCRATCH_ARG = 3072;

    @Override
    public fd_types type() {
        return fd_types.TTY;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        if (!fd.isPath() || (fd.flags() & RegularFile.O_PATH) != 0 || DeletedFiles.isDeleted(fd.target())) {
            return false;
        }
        String t = fd.target();
        return t.equals("/dev/ptmx") || t.endsWith("/pts/ptmx") || t.matches(".*/pts/[0-9]+");
    }

    // ---- the kernel's view of one end

    /** What fstat says of a terminal: its device numbers and owner. */
    record Node(long dev, long rdev, int mode, int uid, int gid) {
        int major() {
            return (int) (((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfff));
        }

        int minor() {
            return (int) ((rdev & 0xff) | ((rdev >>> 12) & ~0xff));
        }

        boolean master() {
            return major() == TTYAUX_MAJOR && minor() == PTMX_MINOR
                    || major() >= PTY_MASTER_MAJOR && major() < PTY_MASTER_MAJOR + PTY_MAJORS;
        }

        boolean slave() {
            return major() >= PTY_SLAVE_MAJOR && major() < PTY_SLAVE_MAJOR + PTY_MAJORS;
        }

        int slaveIndex() {
            return (major() - PTY_SLAVE_MAJOR) * 256 + minor();
        }
    }

    static Node fstat(int fd) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(144);
        Syscall.call("fstat", Syscall.FSTAT, fd, b.address());
        // struct stat on x86_64: st_dev 0, st_mode 24, st_uid 28, st_gid 32, st_rdev 40
        return new Node(b.getLong(0), b.getLong(40), b.getInt(24), b.getInt(28), b.getInt(32));
    }

    /** ioctl with an int result; null when the kernel refuses it (the errno only says "not this kind"). */
    static Integer ioctlInt(int fd, long request) {
        NativeBuffer b = NativeBuffer.allocate(8);
        long r = Syscall.raw(Syscall.IOCTL, fd, request, b.address());
        return r < 0 ? null : b.getInt(0);
    }

    static termios_entry termios(int fd, long request) throws SyscallException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(termiosRaw(fd, request)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        var t = termios_entry.newBuilder().setCIflag(b.getInt(0)).setCOflag(b.getInt(4)).setCCflag(b.getInt(8))
                .setCLflag(b.getInt(12)).setCLine(b.get(16) & 0xff).setCIspeed(0).setCOspeed(0);
        for (int i = 0; i < NCC; i++) {
            t.addCCc(b.get(17 + i) & 0xff);
        }
        return t.build();
    }

    /** The kernel's struct termios of {@code fd} as it is ({@code request}: TCGETS, or TIOCGLCKTRMIOS). */
    static byte[] termiosRaw(int fd, long request) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(64);
        b.zero(0, 64);
        Syscall.call("ioctl(TCGETS)", Syscall.IOCTL, fd, request, b.address());
        return b.bytes(0, TERMIOS_SIZE);
    }

    /** Sets {@code fd}'s termios (TCSETS) from the kernel's struct. */
    static void setTermiosRaw(int fd, byte[] termios) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(64);
        b.zero(0, 64);
        b.put(0, termios);
        Syscall.call("ioctl(TCSETS)", Syscall.IOCTL, fd, TCSETS, b.address());
    }

    static byte[] termiosBytes(termios_entry t) {
        NativeBuffer b = NativeBuffer.allocate(TERMIOS_SIZE);
        b.zero(0, TERMIOS_SIZE);
        b.putInt(0, t.getCIflag());
        b.putInt(4, t.getCOflag());
        b.putInt(8, t.getCCflag());
        b.putInt(12, t.getCLflag());
        b.buffer().put(16, (byte) t.getCLine());
        for (int i = 0; i < Math.min(NCC, t.getCCcCount()); i++) {
            b.buffer().put(17 + i, (byte) t.getCCc(i));
        }
        return b.bytes(0, TERMIOS_SIZE);
    }

    static winsize_entry winsize(int fd) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(8);
        Syscall.call("ioctl(TIOCGWINSZ)", Syscall.IOCTL, fd, TIOCGWINSZ, b.address());
        var s = b.buffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return winsize_entry.newBuilder().setWsRow(s.getShort(0) & 0xffff).setWsCol(s.getShort(2) & 0xffff)
                .setWsXpixel(s.getShort(4) & 0xffff).setWsYpixel(s.getShort(6) & 0xffff).build();
    }

    static byte[] winsizeBytes(winsize_entry w) {
        var b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) w.getWsRow()).putShort(2, (short) w.getWsCol()).putShort(4, (short) w.getWsXpixel())
                .putShort(6, (short) w.getWsYpixel());
        return b.array();
    }

    // ---- dump

    /** What the dump keeps beyond files.img: one tty_info per terminal end, the REG entries TTY entries name. */
    public static final class Dump {
        private final Map<Integer, tty_info_entry> infos = new LinkedHashMap<>();
        private final List<file_entry> regs = new ArrayList<>();
        private Set<Integer> mastersInTree;
        /** by tty-info id: a task and fd holding that end, whose queue is read at the end of the dump */
        private final Map<Integer, int[]> holders = new HashMap<>();
        /** by tty-info id: bytes the end had to read when it was met (FIONREAD), for the log of those not kept */
        private final Map<Integer, Integer> queued = new HashMap<>();
        private final List<TtyQueuedData.Captured> captured = new ArrayList<>();
        private Log log;

        /** Indexes of the ptys whose master some task of the tree holds (read once per dump). */
        synchronized Set<Integer> mastersInTree(FdDumpContext ctx) {
            if (mastersInTree == null) {
                Set<Integer> found = new HashSet<>();
                for (int pid : ctx.tasks().pids()) {
                    try {
                        for (FdInfo fd : ctx.proc().fds(pid)) {
                            String t = fd.target();
                            if (t.equals("/dev/ptmx") || t.endsWith("/pts/ptmx")) {
                                Integer index = masterIndex(pid, fd.fd());
                                if (index != null) {
                                    found.add(index);
                                }
                            }
                        }
                    } catch (IOException e) {
                        // gone meanwhile: it holds nothing any more
                    }
                }
                mastersInTree = found;
            }
            return mastersInTree;
        }

        synchronized void write(ImageDir dir, List<file_entry> files, int pid) throws CryoException {
            files.addAll(regs);
            regs.clear();
            if (infos.isEmpty()) {
                return;
            }
            try {
                dir.write(INFO_IMAGE, ImageFile.of("TTY_INFO", List.copyOf(infos.values())));
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": writing " + INFO_IMAGE + " failed: " + e.getMessage(), e);
            }
            writeQueuedData(dir, pid);
        }

        /**
         * The bytes queued in the ptys whose two ends the tree holds go to tty-data.img, as CRIU does (read, so
         * {@link #release} puts them back when the tree goes on). An end whose other end is outside keeps its bytes
         * out of the images (logged): the outside holder may still read or write them.
         */
        private void writeQueuedData(ImageDir dir, int pid) throws CryoException {
            List<dev.cryo.image.proto.tty_data_entry> entries = new ArrayList<>();
            for (Map.Entry<Integer, int[]> e : holders.entrySet()) {
                int infoId = e.getKey();
                if ((infoId & 1) == 0 || !holders.containsKey(infoId - 1)) {
                    continue;
                }
                int index = infoId / 2;
                int[] m = e.getValue(), sl = holders.get(infoId - 1);
                int master = -1, slave = -1;
                try {
                    master = FdPassing.copyOf(m[0], m[1]);
                    slave = FdPassing.copyOf(sl[0], sl[1]);
                    TtyQueuedData.Captured c = TtyQueuedData.capture(index, master, slave,
                            infos.get(infoId).getPacketMode(), log);
                    captured.add(c);
                    entries.addAll(c.entries());
                } catch (SyscallException ex) {
                    if (master >= 0) {
                        Syscall.raw(Syscall.CLOSE, master);
                    }
                    if (slave >= 0) {
                        Syscall.raw(Syscall.CLOSE, slave);
                    }
                    throw new CryoException("cannot dump pid " + m[0] + ": fd " + m[1] + " (the master of pty " + index
                            + "): reading the bytes queued in the terminal failed: " + ex.getMessage(), ex);
                }
            }
            for (Map.Entry<Integer, Integer> q : queued.entrySet()) {
                int id = q.getKey();
                if (!holders.containsKey(id ^ 1)) {
                    log.warn("pid %d: %d bytes queued on the %s of pty %d are not kept: its other end is outside the "
                            + "dumped tree", holders.get(id)[0], q.getValue(), (id & 1) == 1 ? "master" : "slave", id / 2);
                }
            }
            if (entries.isEmpty()) {
                return;
            }
            try {
                dir.write(TtyQueuedData.IMAGE, ImageFile.of("TTY_DATA", entries));
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": writing " + TtyQueuedData.IMAGE + " failed: "
                        + e.getMessage(), e);
            }
        }

        /**
         * Once the dump is over: the bytes read from the terminals go back into them when the tree goes on
         * ({@code putBack}: -R, -s, or a failed dump), while it is still frozen; Cryo's copies of the ends are closed.
         * Idempotent.
         */
        public synchronized void release(boolean putBack) {
            for (TtyQueuedData.Captured c : captured) {
                if (putBack) {
                    TtyQueuedData.putBack(c, log);
                }
                c.close();
            }
            captured.clear();
        }
    }

    private static Integer masterIndex(int pid, int fd) {
        try {
            int mine = FdPassing.copyOf(pid, fd);
            try {
                return ioctlInt(mine, TIOCGPTN);
            } finally {
                Syscall.raw(Syscall.CLOSE, mine);
            }
        } catch (SyscallException e) {
            return null;
        }
    }

    /**
     * CRIU's name of a terminal for --external and --inherit-fd: {@code tty[RDEV:DEV]}, in hex. A slave named with
     * --external is dumped though its master is outside (without -j), and the restore takes it from --inherit-fd.
     */
    static String externalName(Node n) {
        return "tty[" + Long.toHexString(n.rdev()) + ":" + Long.toHexString(n.dev()) + "]";
    }

    /** The path by which a task opens its controlling terminal, whichever it is. */
    public static final String CONTROLLING = "/dev/tty";

    /**
     * Whether {@code path} is {@code /dev/tty} and the task's controlling terminal a pty whose master the tree
     * holds: the restore makes that terminal the session's again, so {@code /dev/tty} opens to it without -j.
     */
    static boolean controlledFromTree(FdDumpContext ctx, String path) {
        long[] t = controllingTerminal(ctx.pid());
        if (!path.equals(CONTROLLING) || t == null) {
            return false;
        }
        Node n = new Node(0, t[0], 0, 0, 0);
        return n.slave() && ctx.ttys().mastersInTree(ctx).contains(n.slaveIndex());
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ")";
        try {
            int mine = FdPassing.copyOf(ctx.pid(), fd.fd());
            try {
                Node n = fstat(mine);
                if (!n.master() && !n.slave()) {
                    throw new CryoException(where + " is a terminal of device " + n.major() + ":" + n.minor()
                            + ", which is no Unix98 pty; Cryo cannot dump it yet");
                }
                if (Syscall.raw(Syscall.IOCTL, mine, TCGETS, NativeBuffer.allocate(64).address()) < 0) {
                    throw new CryoException(where + " is a terminal that was hung up (its other end closed); "
                            + "Cryo cannot dump a hung-up terminal");
                }
                if (n.slave() && !ctx.options().shellJob() && !ctx.ttys().mastersInTree(ctx).contains(n.slaveIndex())
                        && !ctx.options().files().external().contains(externalName(n))) {
                    throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the terminal "
                            + fd.target() + ", whose master is held outside the dumped tree; dump with -j/--shell-job "
                            + "to let the restore reattach it, or with --external " + externalName(n)
                            + " to give it back on restore with --inherit-fd fd[N]:" + externalName(n));
                }
            } finally {
                Syscall.raw(Syscall.CLOSE, mine);
            }
        } catch (SyscallException e) {
            throw new CryoException(where + ": cannot read the terminal: " + e.getMessage(), e);
        }
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ")";
        Dump d = ctx.ttys();
        try {
            int mine = FdPassing.copyOf(ctx.pid(), fd.fd());
            try {
                Node n = fstat(mine);
                boolean master = n.master();
                Integer index = master ? ioctlInt(mine, TIOCGPTN) : Integer.valueOf(n.slaveIndex());
                if (index == null) {
                    throw new CryoException(where + ": the kernel gives no pty index for it (TIOCGPTN)");
                }
                int infoId = index * 2 + (master ? 1 : 0);
                synchronized (d) {
                    if (!d.infos.containsKey(infoId)) {
                        d.infos.put(infoId, info(ctx, mine, n, infoId, index, master));
                        d.holders.put(infoId, new int[]{ctx.pid(), fd.fd()});
                        d.log = ctx.log();
                        Integer queued = ioctlInt(mine, FIONREAD);
                        if (queued != null && queued > 0) {
                            d.queued.put(infoId, queued);
                        }
                    }
                    int regId = Fifo.REGF_IDS + id;
                    var reg = reg_file_entry.newBuilder().setId(regId).setFlags(fd.flags() & ~RegularFile.O_CLOEXEC)
                            .setPos(0).setFown(RegularFile.noOwner()).setName(fd.target()).setMode(n.mode());
                    d.regs.add(file_entry.newBuilder().setType(fd_types.REG).setId(regId).setReg(reg).build());
                    return file_entry.newBuilder().setType(fd_types.TTY).setId(id).setTty(tty_file_entry.newBuilder()
                            .setId(id).setTtyInfoId(infoId).setFlags(fd.flags() & ~RegularFile.O_CLOEXEC)
                            .setFown(RegularFile.noOwner()).setRegfId(regId)).build();
                }
            } finally {
                Syscall.raw(Syscall.CLOSE, mine);
            }
        } catch (SyscallException e) {
            throw new CryoException(where + ": reading the terminal failed: " + e.getMessage(), e);
        }
    }

    private static tty_info_entry info(FdDumpContext ctx, int fd, Node n, int infoId, int index, boolean master)
            throws SyscallException {
        int sid = 0, pgrp = 0;
        if (master) {
            // through the master the kernel answers for the slave's session from anywhere
            Integer s = ioctlInt(fd, TIOCGSID), g = ioctlInt(fd, TIOCGPGRP);
            sid = s == null ? 0 : s;
            pgrp = g == null ? 0 : g;
        } else {
            // a slave answers only to its own session: /proc says which task of the tree has it as its terminal
            for (int pid : ctx.tasks().pids()) {
                long[] t = controllingTerminal(pid);
                if (t != null && t[0] == n.rdev()) {
                    sid = (int) t[1];
                    pgrp = (int) t[2];
                    break;
                }
            }
        }
        Integer locked = master ? ioctlInt(fd, TIOCGPTLCK) : null, packet = master ? ioctlInt(fd, TIOCGPKT) : null,
                excl = ioctlInt(fd, TIOCGEXCL);
        return tty_info_entry.newBuilder().setId(infoId).setType(TtyType.PTY).setLocked(locked != null && locked != 0)
                .setExclusive(excl != null && excl != 0).setPacketMode(packet != null && packet != 0).setSid(sid)
                .setPgrp(pgrp).setRdev((int) n.rdev()).setDev((int) n.dev()).setUid(n.uid()).setGid(n.gid())
                .setTermios(termios(fd, TCGETS)).setTermiosLocked(termios(fd, TIOCGLCKTRMIOS)).setWinsize(winsize(fd))
                .setPty(tty_pty_entry.newBuilder().setIndex(index)).build();
    }

    /** {tty_nr, session, tpgid} of a task from /proc/PID/stat, or null when it has no terminal or is gone. */
    static long[] controllingTerminal(int pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
            // f[0] is field 3 (state): session is field 6, tty_nr 7, tpgid 8
            long tty = Long.parseLong(f[4]);
            return tty == 0 ? null : new long[]{tty, Long.parseLong(f[3]), Long.parseLong(f[5])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    // ---- restore

    /** A pty made again in Cryo: its master and a slave, held until the restore ends. */
    private record Pair(int index, int master, int slave, String slavePath) {
    }

    /** The restore's terminals: tty-info.img, the REG entries TTY entries name, the pairs made so far. */
    public static final class Restore implements AutoCloseable {
        final Map<Integer, tty_info_entry> infos = new HashMap<>();
        final Map<Integer, file_entry> regs = new HashMap<>();
        /** the TTY entries of files.img, by file id */
        final Map<Integer, tty_file_entry> files = new HashMap<>();
        final Map<Integer, Pair> pairs = new HashMap<>();
        final Set<Integer> paramsSet = new HashSet<>();
        /** tty-data.img: by tty-info id, the bytes that end had to read */
        final Map<Integer, byte[]> queued = new HashMap<>();
        final Log log;

        Restore(Log log) {
            this.log = log;
        }

        tty_info_entry info(int id) {
            return infos.get(id);
        }

        /** The path a TTY entry's file was opened by: its REG entry (regf_id, or CRIU's REG entry of the same id). */
        String path(tty_file_entry f, tty_info_entry info) {
            file_entry reg = f.hasRegfId() ? regs.get(f.getRegfId()) : regs.get(f.getId());
            if (reg != null) {
                return reg.getReg().getName();
            }
            return (info.getId() & 1) == 1 ? "/dev/ptmx" : "/dev/pts/" + info.getPty().getIndex();
        }

        /** The master's path for pty {@code index}, from the master's TTY entry when the images have one. */
        String masterPath(int index) {
            for (tty_file_entry f : files.values()) {
                if (f.getTtyInfoId() == index * 2 + 1) {
                    return path(f, infos.get(f.getTtyInfoId()));
                }
            }
            return "/dev/ptmx";
        }

        /** Lock again what was locked, then Cryo's ends go; every task holds its own by now. */
        @Override
        public void close() {
            for (Pair p : pairs.values()) {
                tty_info_entry m = infos.get(p.index() * 2 + 1);
                if (m != null && m.getLocked()) {
                    NativeBuffer one = NativeBuffer.allocate(4);
                    one.putInt(0, 1);
                    Syscall.raw(Syscall.IOCTL, p.master(), TIOCSPTLCK, one.address());
                }
                Syscall.raw(Syscall.CLOSE, p.slave());
                Syscall.raw(Syscall.CLOSE, p.master());
            }
            pairs.clear();
        }
    }

    /** Reads tty-info.img and the entries TTY files name, once per restore, before any task is made. */
    public static void load(Map<Object, Object> state, List<file_entry> files, ImageDir dir, Log log)
            throws CryoException {
        Restore r = new Restore(log);
        for (file_entry f : files) {
            if (f.getType() == fd_types.REG && f.hasReg()) {
                r.regs.put(f.getId(), f);
            } else if (f.getType() == fd_types.TTY && f.hasTty()) {
                r.files.put(f.getId(), f.getTty());
            }
        }
        if (!r.files.isEmpty()) {
            try {
                for (tty_info_entry e : dir.read(INFO_IMAGE).entries(tty_info_entry.class)) {
                    r.infos.put(e.getId(), e);
                }
                if (dir.exists(TtyQueuedData.IMAGE)) {
                    for (var e : dir.read(TtyQueuedData.IMAGE).entries(dev.cryo.image.proto.tty_data_entry.class)) {
                        r.queued.merge(e.getTtyId(), e.getData().toByteArray(), (a, b) -> {
                            byte[] both = java.util.Arrays.copyOf(a, a.length + b.length);
                            System.arraycopy(b, 0, both, a.length, b.length);
                            return both;
                        });
                    }
                }
            } catch (IOException e) {
                throw new CryoException("cannot restore from " + dir.path() + ": cannot read " + INFO_IMAGE + ": "
                        + (e instanceof java.nio.file.NoSuchFileException ? "it is missing" : e.getMessage()), e);
            }
        }
        state.put(Restore.class, r);
    }

    /** For a restore that did not {@link #load} (a single task's fds): reads the same, once. */
    public static void prepare(FdRestoreContext ctx, List<file_entry> files, ImageDir dir) throws CryoException {
        if (!ctx.state().containsKey(Restore.class)) {
            load(ctx.state(), files, dir, ctx.log());
        }
    }

    /** Cryo's ends of the restored ptys go (after a restore, good or failed). */
    public static void close(Map<Object, Object> state) {
        Object r = state.remove(Restore.class);
        if (r != null) {
            ((Restore) r).close();
        }
    }

    private static Restore of(FdRestoreContext ctx) throws CryoException {
        Restore r = (Restore) ctx.state().get(Restore.class);
        if (r == null) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": terminals met before tty-info.img was read");
        }
        return r;
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        Restore r = of(ctx);
        tty_file_entry f = file.getTty();
        tty_info_entry info = r.info(f.getTtyInfoId());
        String where = "cannot restore pid " + ctx.pid() + ": fd " + fd.getFd();
        if (info == null) {
            throw new CryoException(where + " is a terminal whose tty-info entry " + f.getTtyInfoId()
                    + " is not in " + INFO_IMAGE);
        }
        if (info.getType() != TtyType.PTY || !info.hasPty()) {
            throw new CryoException(where + " is a terminal of type " + info.getType() + ", which Cryo cannot "
                    + "restore yet (only Unix98 ptys)");
        }
        int index = info.getPty().getIndex();
        boolean master = (info.getId() & 1) == 1;
        String path = r.path(f, info);
        // O_ASYNC is FileOwner's to set once the fd has its number (given at open, the file would send no signal)
        int flags = f.getFlags() & ~(RegularFile.O_CREAT | RegularFile.O_EXCL | RegularFile.O_TRUNC
                | RegularFile.O_CLOEXEC | FileOwner.O_ASYNC);
        try {
            if (!master && !r.infos.containsKey(index * 2 + 1)) {
                return inherited(ctx, r, info, path, flags, where);
            }
            Pair p = pair(ctx, r, index);
            if (master) {
                int got = SharedFiles.of(ctx).give(ctx, p.master());
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, Fifo.F_SETFL, flags);
                return got;
            }
            return ctx.open(path, flags | RegularFile.O_NOCTTY, 0);
        } catch (SyscallException e) {
            throw new CryoException(where + " (" + path + ", pty " + index + "): " + e.getMessage(), e);
        }
    }

    /**
     * A slave whose master was outside the tree: a shell job's terminal. As CRIU: the restorer's own terminal (its
     * stdin) takes its place; with no terminal there, the same path again, if it is still a terminal.
     */
    private static int inherited(FdRestoreContext ctx, Restore r, tty_info_entry info, String path, int flags,
                                 String where) throws CryoException, SyscallException {
        if (!ctx.options().shellJob()) {
            String name = "tty[" + Integer.toHexString(info.getRdev()) + ":" + Integer.toHexString(info.getDev()) + "]";
            throw new CryoException(where + " was the terminal " + path + ", whose master was outside the dumped "
                    + "tree; restore with -j/--shell-job to reattach it, or give the terminal with --inherit-fd fd[N]:"
                    + name);
        }
        int got;
        String what;
        if (Syscall.raw(Syscall.IOCTL, 0, TCGETS, NativeBuffer.allocate(64).address()) >= 0) {
            got = SharedFiles.of(ctx).give(ctx, 0);
            what = "cryo's stdin";
        } else {
            long rc = ctx.syscall().raw(Syscall.OPENAT, FdRestoreContext.AT_FDCWD, ctx.scratch().string(0, path),
                    flags | RegularFile.O_NOCTTY, 0);
            if (rc < 0) {
                throw new CryoException(where + " was the terminal " + path + " of a shell job; cryo's stdin is no "
                        + "terminal to put in its place and " + path + " cannot be opened ("
                        + SyscallException.describe((int) -rc) + "); restore from a terminal");
            }
            got = (int) rc;
            what = path;
        }
        if (r.paramsSet.add(info.getId())) {
            remoteParams(ctx, got, info);
        }
        r.log.info("pid %d: the shell job's terminal %s is %s", ctx.pid(), path, what);
        return got;
    }

    /** The pty with the image's index, made once in Cryo: master and slave, unlocked, with their parameters. */
    private static Pair pair(FdRestoreContext ctx, Restore r, int index) throws CryoException, SyscallException {
        Pair p = r.pairs.get(index);
        if (p != null) {
            return p;
        }
        String ptmx = r.masterPath(index);
        tty_info_entry mi = r.infos.get(index * 2 + 1), si = r.infos.get(index * 2);
        List<Integer> tried = new ArrayList<>();
        int master = -1;
        try {
            // the kernel gives the lowest free index: open until it is the image's, holding the ones below
            for (int i = 0; i < 64 && master < 0; i++) {
                int fd = openLocal(ptmx, RegularFile.O_RDWR | RegularFile.O_NOCTTY | RegularFile.O_CLOEXEC);
                Integer got = ioctlInt(fd, TIOCGPTN);
                if (got != null && got == index) {
                    master = fd;
                } else {
                    tried.add(fd);
                    if (got == null || got > index) {
                        break;
                    }
                }
            }
        } finally {
            for (int fd : tried) {
                Syscall.raw(Syscall.CLOSE, fd);
            }
        }
        if (master < 0) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": the pty index " + index + " is in use on "
                    + "this host (" + slavePath(ptmx, index) + " exists), and a restored terminal keeps its index; "
                    + "close that terminal, or restore in a fresh devpts (a container)");
        }
        try {
            NativeBuffer arg = NativeBuffer.allocate(64);
            arg.putInt(0, 0);
            Syscall.call("ioctl(TIOCSPTLCK, 0)", Syscall.IOCTL, master, TIOCSPTLCK, arg.address());
            if (mi != null) {
                localParams(master, mi, r.log);
                if (mi.getPacketMode()) {
                    arg.putInt(0, 1);
                    Syscall.call("ioctl(TIOCPKT)", Syscall.IOCTL, master, TIOCPKT, arg.address());
                }
            }
            String sp = slavePath(ptmx, index);
            int slave = openLocal(sp, RegularFile.O_RDWR | RegularFile.O_NOCTTY | RegularFile.O_CLOEXEC);
            p = new Pair(index, master, slave, sp);
            r.pairs.put(index, p);
            if (si != null) {
                localParams(slave, si, r.log);
                if (si.getExclusive()) {
                    Syscall.call("ioctl(TIOCEXCL)", Syscall.IOCTL, slave, TIOCEXCL, 0);
                }
            }
            byte[] forMaster = r.queued.getOrDefault(index * 2 + 1, new byte[0]),
                    forSlave = r.queued.getOrDefault(index * 2, new byte[0]);
            if (forMaster.length + forSlave.length > 0) {
                // tty-data.img: what each end had to read is queued again, before any task holds the pair
                TtyQueuedData.requeue(master, slave, termiosRaw(slave, TCGETS), forMaster, forSlave, index, r.log);
                r.log.info("pty %d: %d bytes queued again for the master's reader, %d for the slave's", index,
                        forMaster.length, forSlave.length);
            }
            r.log.info("pty %d made again (%s, %s)", index, ptmx, sp);
            return p;
        } catch (SyscallException e) {
            if (!r.pairs.containsKey(index)) {
                Syscall.raw(Syscall.CLOSE, master);
            }
            throw e;
        }
    }

    static String slavePath(String ptmx, int index) {
        String dir = ptmx.substring(0, Math.max(0, ptmx.lastIndexOf('/')));
        return (dir.endsWith("/pts") ? dir : dir + "/pts") + "/" + index;
    }

    private static int openLocal(String path, int flags) throws SyscallException {
        byte[] b = (path + "\0").getBytes(StandardCharsets.UTF_8);
        NativeBuffer s = NativeBuffer.allocate(b.length);
        s.put(0, b);
        return (int) Syscall.call("open(" + path + ")", Syscall.OPENAT, FdRestoreContext.AT_FDCWD, s.address(), flags, 0);
    }

    /** Locked termios (needs CAP_SYS_ADMIN; kept as they are without it), termios, then the window size. */
    private static void localParams(int fd, tty_info_entry info, Log log) throws SyscallException {
        if (info.hasTermiosLocked()) {
            NativeBuffer b = NativeBuffer.allocate(64);
            b.put(0, termiosBytes(info.getTermiosLocked()));
            long rc = Syscall.raw(Syscall.IOCTL, fd, TIOCSLCKTRMIOS, b.address());
            if (rc < 0) {
                log.warn("tty %#x: locked termios kept as they are (%s)", info.getId(), SyscallException.describe((int) -rc));
            }
        }
        if (info.hasTermios()) {
            setTermiosRaw(fd, termiosBytes(info.getTermios()));
        }
        if (info.hasWinsize()) {
            NativeBuffer b = NativeBuffer.allocate(8);
            b.put(0, winsizeBytes(info.getWinsize()));
            Syscall.call("ioctl(TIOCSWINSZ)", Syscall.IOCTL, fd, TIOCSWINSZ, b.address());
        }
    }

    /** The same, run in the restored task on its fd {@code fd} (a terminal Cryo does not hold itself). */
    private static void remoteParams(FdRestoreContext ctx, int fd, tty_info_entry info)
            throws SyscallException {
        long at = ctx.scratch().address() + SCRATCH_ARG;
        if (info.hasTermios()) {
            ctx.scratch().write(SCRATCH_ARG, termiosBytes(info.getTermios()));
            ctx.syscall().call("ioctl(TCSETS)", Syscall.IOCTL, fd, TCSETS, at);
        }
        if (info.hasWinsize()) {
            ctx.scratch().write(SCRATCH_ARG, winsizeBytes(info.getWinsize()));
            ctx.syscall().call("ioctl(TIOCSWINSZ)", Syscall.IOCTL, fd, TIOCSWINSZ, at);
        }
    }

    /**
     * Right after {@code setsid} in a new task, before it forks anyone: the pty whose session it led becomes its
     * controlling terminal. The members of a session get the terminal when they are forked, so the leader must
     * take it first; the foreground group waits for {@link #controllingTerminal}, once every group exists.
     */
    public static void afterSetsid(FdRestoreContext ctx) throws CryoException {
        takeTerminals(ctx, ctx.pid(), false);
    }

    /**
     * A session leader takes its terminal back (again, when {@link #afterSetsid} did already) and gives it its
     * foreground group. Runs in the task once its fds are in place; every group of the tree exists by then.
     */
    public static void controllingTerminal(FdRestoreContext ctx, pstree_entry task) throws CryoException {
        if (task.getSid() == task.getPid()) {
            takeTerminals(ctx, task.getPid(), true);
        }
    }

    private static void takeTerminals(FdRestoreContext ctx, int sessionLeader, boolean foreground) throws CryoException {
        Restore r = (Restore) ctx.state().get(Restore.class);
        if (r == null || r.infos.isEmpty()) {
            return;
        }
        Set<Integer> done = new HashSet<>();
        for (tty_info_entry info : r.infos.values()) {
            if (info.getSid() != sessionLeader || !info.hasPty()) {
                continue;
            }
            int index = info.getPty().getIndex();
            if (!r.infos.containsKey(index * 2 + 1) || !done.add(index)) {
                continue; // a shell job's terminal: the session is the restorer's
            }
            String where = "cannot restore pid " + ctx.pid() + ": its controlling terminal (pty " + index + ")";
            try {
                long sid = sidOf(ctx.pid());
                if (sid != ctx.pid()) {
                    r.log.warn("pid %d: led the session of pty %d but is restored in session %d (-j): the terminal "
                            + "is not made its controlling terminal", ctx.pid(), index, sid);
                    continue;
                }
                Pair p = pair(ctx, r, index);
                int fd = ctx.open(p.slavePath(), RegularFile.O_RDWR | RegularFile.O_NOCTTY, 0);
                try {
                    ctx.syscall().call("ioctl(TIOCSCTTY)", Syscall.IOCTL, fd, TIOCSCTTY, 0);
                    int pgrp = info.getPgrp();
                    if (foreground && pgrp > 0) {
                        NativeBuffer b = NativeBuffer.allocate(4);
                        b.putInt(0, pgrp);
                        ctx.scratch().write(SCRATCH_ARG, b.bytes(0, 4));
                        long rc = ctx.syscall().raw(Syscall.IOCTL, fd, TIOCSPGRP, ctx.scratch().address() + SCRATCH_ARG);
                        if (rc < 0) {
                            r.log.warn("pid %d: foreground group %d of pty %d not set (%s): the session's own group "
                                    + "is in the foreground", ctx.pid(), pgrp, index, SyscallException.describe((int) -rc));
                        }
                    }
                } finally {
                    ctx.syscall().raw(Syscall.CLOSE, fd);
                }
                if (foreground) {
                    r.log.info("pid %d: pty %d is its controlling terminal again, foreground group %d", ctx.pid(),
                            index, info.getPgrp());
                }
            } catch (SyscallException e) {
                throw new CryoException(where + ": " + e.getMessage(), e);
            }
        }
    }

    private static long sidOf(int pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return Long.parseLong(s.substring(s.lastIndexOf(')') + 2).trim().split(" ")[3]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
