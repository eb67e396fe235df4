package dev.cryo.engine.resource;

import dev.cryo.image.proto.TtyType;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pipe_entry;
import dev.cryo.image.proto.reg_file_entry;
import dev.cryo.image.proto.tty_file_entry;
import dev.cryo.image.proto.tty_info_entry;
import dev.cryo.image.proto.tty_pty_entry;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pure parts of terminals and --inherit-fd: device numbers, paths, and CRIU's names of files. */
class TtyNamesTest {
    @Test
    void deviceNumbersSayWhichEndAndWhichIndex() {
        assertTrue(new Tty.Node(0, 0x502, 0, 0, 0).master(), "/dev/ptmx is 5:2");
        assertTrue(new Tty.Node(0, 0x8800, 0, 0, 0).slave(), "/dev/pts/0 is 136:0");
        assertTrue(new Tty.Node(0, 0x8000, 0, 0, 0).master(), "128:N, the Unix98 masters' own major, is a master too");
        Tty.Node pts300 = new Tty.Node(0, (137L << 8) | 44, 0, 0, 0); // 137:44 is index 256 + 44
        assertTrue(pts300.slave());
        assertEquals(300, pts300.slaveIndex());
        Tty.Node wide = new Tty.Node(0, (136L << 8) | 0xff | (0x1L << 20), 0, 0, 0); // minor 0x1ff
        assertEquals(0x1ff, wide.minor());
        assertFalse(new Tty.Node(0, (4L << 8) | 1, 0, 0, 0).slave(), "tty1, a virtual console, is no pty");
        assertFalse(new Tty.Node(0, (4L << 8) | 1, 0, 0, 0).master());
    }

    @Test
    void slavesLiveBesideTheirMaster() {
        assertEquals("/dev/pts/3", Tty.slavePath("/dev/ptmx", 3));
        assertEquals("/dev/pts/3", Tty.slavePath("/dev/pts/ptmx", 3));
    }

    @Test
    void inheritFdNamesAreCriusOwn() {
        file_entry pipe = file_entry.newBuilder().setType(fd_types.PIPE).setId(1).setPipe(pipe_entry.newBuilder()
                .setId(1).setPipeId(0x80000001).setFlags(1).setFown(RegularFile.noOwner())).build();
        assertEquals(Set.of("pipe:[2147483649]"), InheritedFds.names(pipe, null), "an inode beyond 2^31 unsigned");
        file_entry reg = file_entry.newBuilder().setType(fd_types.REG).setId(2).setReg(reg_file_entry.newBuilder()
                .setId(2).setFlags(1).setPos(0).setFown(RegularFile.noOwner()).setName("/tmp/log")).build();
        assertEquals(Set.of("/tmp/log", "tmp/log"), InheritedFds.names(reg, null));

        Tty.Restore ttys = new Tty.Restore(dev.cryo.engine.log.Log.discard());
        ttys.infos.put(6, tty_info_entry.newBuilder().setId(6).setType(TtyType.PTY).setLocked(false)
                .setExclusive(false).setPacketMode(false).setSid(0).setPgrp(0).setRdev(0x8803).setDev(0x19)
                .setPty(tty_pty_entry.newBuilder().setIndex(3)).build());
        file_entry tty = file_entry.newBuilder().setType(fd_types.TTY).setId(3).setTty(tty_file_entry.newBuilder()
                .setId(3).setTtyInfoId(6).setFlags(2).setFown(RegularFile.noOwner())).build();
        assertEquals(Set.of("tty[8803:19]", "/dev/pts/3", "dev/pts/3"), InheritedFds.names(tty, ttys));
    }
}
