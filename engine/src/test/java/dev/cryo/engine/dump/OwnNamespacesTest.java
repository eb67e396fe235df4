package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.nd_type;
import dev.cryo.image.proto.net_device_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tree whose root unshared its network, uts and ipc namespaces ({@code unshare -n -u -i}, a sandbox with no
 * network) in Cryo's pid namespace. CRIU dumps a root's own namespaces with it; Cryo refused them. Now they are
 * dumped with the tree and made new on restore: lo up as it was, the host name, the SysV segment, a TCP connection
 * between parent and child over lo and an abstract unix listener, all in the new namespaces, which the program checks
 * itself. A namespace with more than lo is refused, naming what it holds.
 */
@RootWithPtrace
class OwnNamespacesTest {
    /**
     * argv[1]: "lo" brings lo up; "addr" also adds 10.77.0.1/32 to it (refused). Prints "ready", then a tick per
     * message the child sends over TCP; on SIGUSR2 checks and prints PASS or FAIL.
     */
    private static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <arpa/inet.h>
            #include <errno.h>
            #include <net/if.h>
            #include <netinet/in.h>
            #include <sched.h>
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/ioctl.h>
            #include <sys/prctl.h>
            #include <sys/shm.h>
            #include <sys/socket.h>
            #include <sys/un.h>
            #include <unistd.h>

            #define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf(" (%s)\\n", strerror(errno)); fflush(stdout); exit(1); } while (0)
            static volatile sig_atomic_t verify;
            static void on_usr2(int s) { (void)s; verify = 1; }
            static const char *ABSTRACT = "cryo-own-ns-test";

            static int lo_up(void) {
                int s = socket(AF_INET, SOCK_DGRAM, 0);
                struct ifreq r; memset(&r, 0, sizeof r); strcpy(r.ifr_name, "lo");
                int up = ioctl(s, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP);
                close(s);
                return up;
            }
            static int unix_addr(struct sockaddr_un *a) {
                memset(a, 0, sizeof *a); a->sun_family = AF_UNIX;
                memcpy(a->sun_path + 1, ABSTRACT, strlen(ABSTRACT));
                return (int)(sizeof(sa_family_t) + 1 + strlen(ABSTRACT));
            }

            int main(int argc, char **argv) {
                if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) != 0) FAIL("unshare");
                if (sethostname("cryo-own-ns", 11) != 0) FAIL("sethostname");
                int s = socket(AF_INET, SOCK_DGRAM, 0);
                struct ifreq r; memset(&r, 0, sizeof r); strcpy(r.ifr_name, "lo");
                if (ioctl(s, SIOCGIFFLAGS, &r) != 0) FAIL("SIOCGIFFLAGS");
                r.ifr_flags |= IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &r) != 0) FAIL("SIOCSIFFLAGS");
                close(s);
                if (!strcmp(argv[1], "addr") && system("ip addr add 10.77.0.1/32 dev lo") != 0) FAIL("ip addr add");
                int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
                unsigned char *seg = shmat(shm, NULL, 0);
                if (seg == (void *)-1) FAIL("shmat");
                for (int i = 0; i < 4096; i++) seg[i] = (unsigned char)(i * 7 + 3);
                int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
                setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                struct sockaddr_in in; memset(&in, 0, sizeof in);
                in.sin_family = AF_INET; in.sin_port = htons(7411); in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (bind(l, (struct sockaddr *)&in, sizeof in) != 0 || listen(l, 4) != 0) FAIL("tcp listen");
                int u = socket(AF_UNIX, SOCK_STREAM, 0);
                struct sockaddr_un ua; int ulen = unix_addr(&ua);
                if (bind(u, (struct sockaddr *)&ua, ulen) != 0 || listen(u, 4) != 0) FAIL("unix listen");
                pid_t c = fork();
                if (c == 0) {
                    prctl(PR_SET_PDEATHSIG, SIGKILL);
                    int t = socket(AF_INET, SOCK_STREAM, 0);
                    if (connect(t, (struct sockaddr *)&in, sizeof in) != 0) _exit(2);
                    for (unsigned n = 0;; n++) {
                        if (write(t, &n, sizeof n) != sizeof n) _exit(3);
                        usleep(20000);
                    }
                }
                signal(SIGUSR2, on_usr2);
                int t = accept(l, NULL, NULL);
                if (t < 0) FAIL("accept");
                printf("ready %d %d\\n", getpid(), c);
                fflush(stdout);
                unsigned expect = 0, got;
                for (;;) {
                    ssize_t n = read(t, &got, sizeof got);
                    if (n < 0 && errno == EINTR) continue;
                    if (n != sizeof got) FAIL("tcp read %zd after %u", n, expect);
                    if (got != expect) FAIL("tcp message %u, expected %u", got, expect);
                    expect++;
                    if (expect % 10 == 0) { printf("tick %u\\n", expect); fflush(stdout); }
                    if (!verify) continue;
                    char host[64] = {0};
                    gethostname(host, sizeof host - 1);
                    if (strcmp(host, "cryo-own-ns")) FAIL("host name %s", host);
                    if (!lo_up()) FAIL("lo is down");
                    for (int i = 0; i < 4096; i++) if (seg[i] != (unsigned char)(i * 7 + 3)) FAIL("shm byte %d", i);
                    struct shmid_ds ds;
                    if (shmctl(shm, IPC_STAT, &ds) != 0 || ds.shm_segsz != 4096) FAIL("shm %d", shm);
                    int k = socket(AF_UNIX, SOCK_STREAM, 0);
                    if (connect(k, (struct sockaddr *)&ua, ulen) != 0) FAIL("abstract connect");
                    int a = accept(u, NULL, NULL);
                    if (a < 0) FAIL("abstract accept");
                    close(a); close(k);
                    printf("PASS after %u messages\\n", expect);
                    fflush(stdout);
                    verify = 0;
                }
            }
            """;

    @TempDir
    Path tmp;

    private dev.cryo.engine.testing.Target start(String mode) throws Exception {
        Path exe = CProgram.compile(tmp, "ownns", PROGRAM);
        var target = dev.cryo.engine.testing.Target.start(exe, tmp.resolve(mode + ".out"), mode);
        target.awaitLines(1);
        assertTrue(target.lines().get(0).startsWith("ready"), target.lines().toString());
        return target;
    }

    private static DumpOptions options(int pid, Path images, boolean leaveRunning) {
        return new DumpOptions(pid, images, false, leaveRunning, false, true, false, false, null, null,
                Duration.ofSeconds(10));
    }

    private static String verdict(int pid, Path out, int passes) throws Exception {
        dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, pid, 12 /* SIGUSR2 */);
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(out).lines()
                .filter(l -> l.startsWith("PASS")).count() >= passes || Files.readString(out).contains("FAIL"));
        return Files.readString(out).lines().filter(l -> l.startsWith("FAIL") || l.startsWith("PASS"))
                .reduce((a, b) -> b.startsWith("FAIL") || !a.startsWith("FAIL") ? b : a).orElseThrow();
    }

    private static String ns(Object pid, String kind) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
    }

    @Test
    void itsOwnNetworkUtsAndIpcNamespacesComeBackNewWithLoTheHostNameAndItsConnections() throws Exception {
        try (var target = start("lo")) {
            String[] ready = target.lines().get(0).split(" ");
            int pid = Integer.parseInt(ready[1]), child = Integer.parseInt(ready[2]);
            Path out = tmp.resolve("lo.out");
            Path images = Files.createDirectory(tmp.resolve("images"));
            try (Log log = Log.toFile(images.resolve("dump.log"), 4)) {
                Dumper.dump(options(pid, images, false), log);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(Path.of("/proc/" + pid)));
            ImageDir dir = ImageDir.open(images);
            var ids = dir.ids(pid);
            var mine = dir.inventory().getRootIds();
            assertNotEquals(mine.getNetNsId(), ids.getNetNsId(), "a network namespace of its own");
            assertNotEquals(mine.getUtsNsId(), ids.getUtsNsId(), "a uts namespace of its own");
            assertNotEquals(mine.getIpcNsId(), ids.getIpcNsId(), "an ipc namespace of its own");
            assertEquals(mine.getPidNsId(), ids.getPidNsId(), "Cryo's pid namespace");
            assertEquals(ids.getNetNsId(), dir.ids(child).getNetNsId(), "the child shares its root's");
            List<net_device_entry> devices = dir.read("netdev-" + ids.getNetNsId() + ".img")
                    .entries(net_device_entry.class);
            assertEquals(1, devices.size(), devices.toString());
            assertEquals(nd_type.LOOPBACK, devices.get(0).getType());
            assertEquals(1, devices.get(0).getFlags() & 1, "lo was up");
            int restored;
            try (Log log = Log.toFile(images.resolve("restore.log"), 4)) {
                restored = Restorer.restoreTree(new RestoreOptions(images, true, false, false, null, null), log,
                        dev.cryo.engine.ActionScripts.NONE);
            }
            try {
                assertEquals(pid, restored, "the same pid");
                for (String kind : new String[]{"net", "uts", "ipc"}) {
                    assertNotEquals(ns("self", kind), ns(restored, kind), "a new " + kind + " namespace");
                    assertEquals(ns(restored, kind), ns(child, kind), "the child in its root's " + kind);
                }
                String v = verdict(restored, out, 1);
                assertTrue(v.startsWith("PASS"), v + "\n" + Files.readString(out));
                // dumped again from the new namespaces (their sockets found there), left running
                Path again = Files.createDirectory(tmp.resolve("again"));
                try (Log log = Log.toFile(again.resolve("dump.log"), 4)) {
                    Dumper.dump(options(pid, again, true), log);
                }
                v = verdict(restored, out, 2);
                assertTrue(v.startsWith("PASS"), v + "\n" + Files.readString(out));
            } finally {
                ProcessHandle.of(restored).ifPresent(p -> {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                });
                Reaper.reap(restored);
            }
        }
    }

    @Test
    void aNetworkNamespaceWithMoreThanLoIsRefusedNamingItAndLeftRunning() throws Exception {
        try (var target = start("addr")) {
            String[] ready = target.lines().get(0).split(" ");
            int pid = Integer.parseInt(ready[1]);
            Path images = Files.createDirectory(tmp.resolve("images"));
            CryoException e = assertThrows(CryoException.class,
                    () -> Dumper.dump(options(pid, images, false), Log.discard()));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + pid + ": ")
                    && e.getMessage().contains("10.77.0.1"), e.getMessage());
            String status = Files.readString(Path.of("/proc/" + pid + "/status"));
            assertTrue(status.contains("TracerPid:\t0\n"), status);
            String v = verdict(pid, tmp.resolve("addr.out"), 1);
            assertTrue(v.startsWith("PASS"), v);
        }
    }
}
