package dev.cryo.engine.resource;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.tty_data_entry;

import com.google.protobuf.ByteString;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The bytes queued in a pty whose two ends the tree holds, as CRIU keeps them in {@code tty-data.img}: one
 * {@code tty_data_entry} per end with bytes to read, {@code tty_id} the tty-info id of the end they were read from.
 * Read from the master: what the slave's holder wrote and the master's holder has not read yet; read from the slave:
 * what was written into the master (typed) and is not read yet.
 *
 * <p>A terminal cannot be peeked at: the dump reads the bytes (the last thing it does, while the tree is frozen) and
 * writes them back into the other end when the tree goes on (-R, -s, or a dump that fails), as CRIU does. Unlike a
 * plain read and write, the line discipline is kept out of it: both ends are read non-canonical (a partial line is
 * read too; the master's description non-blocking) and written back with no echo, no signals, no CR/NL translation, no output processing and no special
 * characters, with the end's own canonical mode, so every line comes back as it was, the partial one still partial.
 * Each end's termios are set back as they were at once. The restore writes the image's bytes the same way into the
 * pair it makes, before any task holds it.
 */
final class TtyQueuedData {
    static final String IMAGE = "tty-data.img";
    /** termios bits (asm-generic/termbits.h) the line discipline acts on while bytes go through it */
    private static final int ISTRIP = 040, INLCR = 0100, IGNCR = 0200, ICRNL = 0400, IUCLC = 01000;
    private static final int OPOST = 1;
    private static final int ISIG = 1, ICANON = 2, XCASE = 4, ECHO = 010, ECHOE = 020, ECHOK = 040, ECHONL = 0100,
            ECHOCTL = 01000, ECHOPRT = 02000, ECHOKE = 04000, IEXTEN = 0100000;
    private static final int VTIME = 5, VMIN = 6;
    /** More than any pty holds (a 4 KiB line buffer and 64 KiB of flip buffers): a guard, not a limit met. */
    private static final int MAX_BYTES = 1 << 20;
    private static final int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 04000;

    private TtyQueuedData() {
    }

    /** One pty whose queues the dump has read: Cryo's copies of both ends and what it read from each. */
    static final class Captured {
        final int index;
        final int master, slave;
        final byte[] termios;
        byte[] fromMaster = new byte[0], fromSlave = new byte[0];

        Captured(int index, int master, int slave, byte[] termios) {
            this.index = index;
            this.master = master;
            this.slave = slave;
            this.termios = termios;
        }

        /** CRIU's entries: the tty-info ids are index * 2 (+1 for the master). */
        List<tty_data_entry> entries() {
            List<tty_data_entry> out = new ArrayList<>(2);
            if (fromMaster.length > 0) {
                out.add(tty_data_entry.newBuilder().setTtyId(index * 2 + 1).setData(ByteString.copyFrom(fromMaster)).build());
            }
            if (fromSlave.length > 0) {
                out.add(tty_data_entry.newBuilder().setTtyId(index * 2).setData(ByteString.copyFrom(fromSlave)).build());
            }
            return out;
        }

        void close() {
            Syscall.raw(Syscall.CLOSE, master);
            Syscall.raw(Syscall.CLOSE, slave);
        }
    }

    /**
     * The termios under which bytes pass the line discipline unchanged: no echo, signals, translation or output
     * processing, every special character off (the kernel never treats a NUL as one); canonical when
     * {@code canonical}. IXON is kept: turning it off would start a terminal stopped by ^S.
     */
    static byte[] quiet(byte[] t, boolean canonical) {
        NativeBuffer b = NativeBuffer.allocate(64);
        b.zero(0, 64);
        b.put(0, t);
        b.putInt(0, b.getInt(0) & ~(ISTRIP | INLCR | IGNCR | ICRNL | IUCLC));
        b.putInt(4, b.getInt(4) & ~OPOST);
        int lflag = b.getInt(12) & ~(ISIG | XCASE | ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOPRT | ECHOKE | IEXTEN);
        b.putInt(12, canonical ? lflag | ICANON : lflag & ~ICANON);
        for (int i = 0; i < Tty.NCC; i++) {
            b.buffer().put(17 + i, (byte) 0); // VMIN 0, VTIME 0: a read returns what is there, at once
        }
        return b.bytes(0, Tty.TERMIOS_SIZE);
    }

    static boolean canonical(byte[] t) {
        return (t[12] & ICANON) != 0;
    }

    /**
     * Reads what both ends of pty {@code index} hold (Cryo's copies {@code master}, {@code slave}, which it then
     * owns), leaving their termios as they were. On failure the bytes read so far are written back.
     */
    static Captured capture(int index, int master, int slave, boolean packetMode, Log log) throws SyscallException {
        Captured c = new Captured(index, master, slave, Tty.termiosRaw(slave, Tty.TCGETS));
        flushPending(slave, master);
        int masterFlags = (int) Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, master, F_GETFL);
        int slaveFlags = (int) Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, slave, F_GETFL);
        try {
            // the master's own termios are raw and out of reach (TCGETS/TCSETS on a master act on its slave): a
            // non-blocking description says when it is empty; the slave is read non-canonical, partial line too
            Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, master, F_SETFL, masterFlags | O_NONBLOCK);
            Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, slave, F_SETFL, slaveFlags | O_NONBLOCK);
            Tty.setTermiosRaw(slave, quiet(c.termios, false));
            c.fromMaster = drain(master, packetMode, index, log);
            c.fromSlave = drain(slave, false, index, log);
        } catch (SyscallException e) {
            Syscall.raw(Syscall.IOCTL, slave, Tty.TCSETS, buffer(c.termios).address());
            putBack(c, log);
            throw e;
        } finally {
            Syscall.raw(Syscall.IOCTL, slave, Tty.TCSETS, buffer(c.termios).address());
            Syscall.raw(Syscall.FCNTL, master, F_SETFL, masterFlags);
            Syscall.raw(Syscall.FCNTL, slave, F_SETFL, slaveFlags);
        }
        if (c.fromMaster.length + c.fromSlave.length > 0) {
            log.info("pty %d: %d bytes queued for the master's reader, %d for the slave's", index,
                    c.fromMaster.length, c.fromSlave.length);
        }
        return c;
    }

    private static final int SYS_POLL = 7, POLLIN = 1;

    /**
     * Bytes written into one end wait in the other's flip buffer until a kernel worker gives them to its line
     * discipline (which echoes typed bytes, under the terminal's own termios). poll() on a tty runs that work
     * first: the slave's input is taken in (its echoes queued on the master), then the master's.
     */
    private static void flushPending(int slave, int master) {
        NativeBuffer p = NativeBuffer.allocate(16);
        p.zero(0, 16);
        p.putInt(0, slave);
        p.buffer().putShort(4, (short) POLLIN);
        p.putInt(8, master);
        p.buffer().putShort(12, (short) POLLIN);
        Syscall.raw(SYS_POLL, p.address(), 2, 0);
        Syscall.raw(SYS_POLL, p.address() + 8, 1, 0);
    }

    private static NativeBuffer buffer(byte[] t) {
        NativeBuffer b = NativeBuffer.allocate(64);
        b.zero(0, 64);
        b.put(0, t);
        return b;
    }

    /** Every byte the end has to read: non-canonical reads of whatever is there until none is left. */
    private static byte[] drain(int fd, boolean packetMode, int index, Log log) throws SyscallException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        NativeBuffer b = NativeBuffer.allocate(16384);
        while (out.size() < MAX_BYTES) {
            long n = Syscall.raw(Syscall.READ, fd, b.address(), (long) b.capacity());
            if (n == -11 || n == 0) { // EAGAIN: a non-blocking description with nothing left
                break;
            }
            if (n < 0) {
                throw new SyscallException("read(pty " + index + ")", (int) -n);
            }
            byte[] got = b.bytes(0, (int) n);
            if (packetMode) {
                // each read of a master in packet mode starts with a status byte: TIOCPKT_DATA (0) before data
                if (got[0] != 0 && n == 1) {
                    log.warn("pty %d: a packet-mode status (%#x) was read and is not kept", index, got[0]);
                    continue;
                }
                out.write(got, 1, got.length - 1);
            } else {
                out.write(got, 0, got.length);
            }
        }
        return out.toByteArray();
    }

    /**
     * The bytes go back where they were, in order (into the other end, as if written again), and the ends' termios
     * and flags are as before; failures are logged (a terminal never promised delivery, CRIU says the same).
     */
    static void putBack(Captured c, Log log) {
        try {
            requeue(c.master, c.slave, c.termios, c.fromMaster, c.fromSlave, c.index, log);
        } catch (SyscallException e) {
            log.warn("pty %d: its queued bytes could not all be written back: %s", c.index, e.getMessage());
        }
        c.fromMaster = new byte[0];
        c.fromSlave = new byte[0];
    }

    /**
     * Queues {@code forMasterReader} (written into the slave) and {@code forSlaveReader} (written into the master),
     * the slave in quiet mode meanwhile (it acts on both ways; the master's own termios are raw), then sets the
     * slave's termios to {@code termios}.
     */
    static void requeue(int master, int slave, byte[] termios, byte[] forMasterReader, byte[] forSlaveReader,
                        int index, Log log) throws SyscallException {
        if (forMasterReader.length == 0 && forSlaveReader.length == 0) {
            return;
        }
        int masterFlags = (int) Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, master, F_GETFL);
        int slaveFlags = (int) Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, slave, F_GETFL);
        try {
            // no task runs on either end meanwhile: a full queue is an error, not a wait
            Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, master, F_SETFL, masterFlags | O_NONBLOCK);
            Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, slave, F_SETFL, slaveFlags | O_NONBLOCK);
            Tty.setTermiosRaw(slave, quiet(termios, canonical(termios)));
            writeAll(slave, forMasterReader, index, "slave", log);
            writeAll(master, forSlaveReader, index, "master", log);
            // taken in by the line discipline now, under the quiet termios (else later, echoed, under the old ones)
            flushPending(slave, master);
        } finally {
            Syscall.raw(Syscall.IOCTL, slave, Tty.TCSETS, buffer(termios).address());
            Syscall.raw(Syscall.FCNTL, master, F_SETFL, masterFlags);
            Syscall.raw(Syscall.FCNTL, slave, F_SETFL, slaveFlags);
        }
    }

    private static void writeAll(int fd, byte[] data, int index, String end, Log log) throws SyscallException {
        if (data.length == 0) {
            return;
        }
        NativeBuffer b = NativeBuffer.allocate(data.length);
        b.put(0, data);
        int done = 0;
        while (done < data.length) {
            long n = Syscall.raw(Syscall.WRITE, fd, b.address() + done, (long) (data.length - done));
            if (n == -4) { // EINTR
                continue;
            }
            if (n <= 0) {
                throw new SyscallException("write(the " + end + " of pty " + index + ", " + (data.length - done)
                        + " of " + data.length + " bytes)", n == 0 ? 11 : (int) -n);
            }
            done += (int) n;
        }
        log.debug("pty %d: %d bytes queued again through its %s", index, data.length, end);
    }
}
