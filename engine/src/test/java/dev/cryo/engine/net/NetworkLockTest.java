package dev.cryo.engine.net;

import dev.cryo.engine.log.Log;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The network lock, made over netlink: it holds exactly the locked connection's packets, both ways, and no other;
 * after the unlock the held bytes arrive by TCP's own retransmission; nft reads the table back in its own words.
 */
class NetworkLockTest {
    private static final int PID = 4_000_001; // names the table only

    @Test
    void lockedConnectionIsHeldBothWaysAndOthersAreNot() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                try (LoopbackPair pair = new LoopbackPair()) {
                    NetworkLock.lock(PID, null, List.of(pair.connection()), Log.discard());
                    assertEquals(1, net.cryoTables().size(), "the lock's table: " + net.cryoTables());
                    String rules = listTable();
                    assertTrue(rules.contains("ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport "
                            + pair.locked.getLocalPort() + " tcp dport " + pair.server.getLocalPort()
                            + " meta mark != 0x0000c114 drop"),
                            "nft reads the rule back: " + rules);
                    pair.assertHeldBothWaysAndNothingElse();

                    NetworkLock.unlock(PID, null, Log.discard());
                    assertTrue(net.cryoTables().isEmpty(), "unlocked: " + net.cryoTables());
                    pair.assertReleased();
                }
            });
        }
    }

    /**
     * Opening the lock (an accept rule put first in both chains, a transaction that only adds) lets the held
     * connection through at once, its table still there; unlocking then deletes the table. Opening with no lock
     * there is quiet and makes no table.
     */
    @Test
    void anOpenedLockLetsTheConnectionThroughBeforeItsTableGoes() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                assertFalse(NetworkLock.open(PID, null, Log.discard()), "no lock to open");
                assertTrue(net.cryoTables().isEmpty(), "opening no lock made none: " + net.cryoTables());
                try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
                     Socket locked = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
                     Socket lockedPeer = server.accept()) {
                    Connection c = new Connection(LoopbackPair.address(locked.getLocalSocketAddress()),
                            LoopbackPair.address(locked.getRemoteSocketAddress()));
                    NetworkLock.lock(PID, null, List.of(c), Log.discard());
                    locked.getOutputStream().write('a');
                    assertThrows(SocketTimeoutException.class, () -> LoopbackPair.readWithin(lockedPeer, Duration.ofMillis(700)),
                            "held while locked");
                    assertTrue(NetworkLock.open(PID, null, Log.discard()));
                    assertEquals(1, net.cryoTables().size(), "the table is still there: " + net.cryoTables());
                    lockedPeer.getOutputStream().write('b');
                    await().atMost(Duration.ofSeconds(30)).until(() -> LoopbackPair.readWithin(locked, Duration.ofSeconds(1)) == 'b');
                    await().atMost(Duration.ofSeconds(30)).until(() -> LoopbackPair.readWithin(lockedPeer, Duration.ofSeconds(1)) == 'a');
                    NetworkLock.unlock(PID, null, Log.discard());
                    assertTrue(net.cryoTables().isEmpty(), "unlocked: " + net.cryoTables());
                }
            });
        }
    }

    @Test
    void lockingAgainReplacesTheTableAndUnlockingTwiceIsQuiet() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                SockAddr a = new SockAddr(SockAddr.AF_INET6, InetAddress.getByName("::1").getAddress(), 40000);
                SockAddr b = new SockAddr(SockAddr.AF_INET6, InetAddress.getByName("::1").getAddress(), 8080);
                NetworkLock.lock(PID, null, List.of(new Connection(a, b)), Log.discard());
                NetworkLock.lock(PID, null, List.of(new Connection(b, a)), Log.discard());
                String rules = listTable();
                assertEquals(2, rules.lines().filter(l -> l.contains(" drop")).count(), "one rule a direction: " + rules);
                assertTrue(rules.contains("ip6 saddr ::1 ip6 daddr ::1 tcp sport 8080 tcp dport 40000 meta mark != 0x0000c114 drop"), rules);
                NetworkLock.unlock(PID, null, Log.discard());
                NetworkLock.unlock(PID, null, Log.discard());
                assertTrue(net.cryoTables().isEmpty());
            });
        }
    }

    @Test
    void aV4MappedPeerOfADualStackSocketIsHeldAsIpv4() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                byte[] mapped = new byte[16];
                mapped[10] = (byte) 0xff;
                mapped[11] = (byte) 0xff;
                mapped[12] = 127;
                mapped[15] = 1;
                SockAddr local = new SockAddr(SockAddr.AF_INET6, mapped, 8080);
                SockAddr remote = new SockAddr(SockAddr.AF_INET6, mapped, 40000);
                NetworkLock.lock(PID, null, List.of(new Connection(local, remote)), Log.discard());
                String rules = listTable();
                assertTrue(rules.contains("ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport 8080 tcp dport 40000 meta mark != 0x0000c114 drop"), rules);
                NetworkLock.unlock(PID, null, Log.discard());
            });
        }
    }

    @Test
    void aRefusedMessageIsNamedAndTheTransactionChangesNothing() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                SockAddr a = new SockAddr(SockAddr.AF_INET, new byte[]{127, 0, 0, 1}, 1);
                NfTables.Batch b = new NfTables.Batch().ensureTable("cryo-lock-t")
                        .dropRule("cryo-lock-t", "no-such-chain", new NfTables.Flow(a, a));
                dev.cryo.engine.sys.SyscallException e;
                try (SocketFd s = NfTables.open()) {
                    e = assertThrows(dev.cryo.engine.sys.SyscallException.class, () -> NfTables.commit(s, b));
                }
                assertTrue(e.getMessage().contains("add rule to chain no-such-chain"), e.getMessage());
                assertTrue(net.cryoTables().isEmpty(), "the table of the same transaction was not made: " + net.cryoTables());
            });
        }
    }

    @Test
    void aLockOfThousandsOfConnectionsIsOneTransaction() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                List<Connection> conns = new java.util.ArrayList<>();
                for (int i = 0; i < 3000; i++) {
                    conns.add(new Connection(new SockAddr(SockAddr.AF_INET, new byte[]{127, 0, 0, 1}, 10000 + i),
                            new SockAddr(SockAddr.AF_INET, new byte[]{127, 0, 0, 2}, 80)));
                }
                NetworkLock.lock(PID, null, conns, Log.discard());
                assertEquals(6000, listTable().lines().filter(l -> l.contains(" drop")).count());
                NetworkLock.unlock(PID, null, Log.discard());
                assertTrue(net.cryoTables().isEmpty());
            });
        }
    }

    /** nft's listing of the lock's table (nft is what a user would look with); skips without it. */
    private static String listTable() throws Exception {
        assumeTrue(java.nio.file.Files.isExecutable(java.nio.file.Path.of(NetworkLock.nftPath())),
                "nft is not installed: the table is not read back");
        Process p = new ProcessBuilder(NetworkLock.nftPath(), "list", "table", "inet", NetworkLock.table(PID))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return out;
    }
}
