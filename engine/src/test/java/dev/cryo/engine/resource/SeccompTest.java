package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.seccomp_entry;
import dev.cryo.image.proto.seccomp_filter;
import dev.cryo.image.proto.seccomp_mode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A process's seccomp filters through a dump and a restore (order, flags, what they do), and what is refused, each
 * with its reason and nothing harmed: a filter that can notify a supervisor (at the dump, the process runs on), an
 * image whose filters cannot be restored (before any task is made), a Cryo that runs under seccomp itself.
 */
@RootWithPtrace
class SeccompTest {
    static final int WHO_A = 0x7ecc0a01, WHO_B = 0x7ecc0b02;

    /**
     * {@code chain}: filter A (getpriority of WHO_A fails with 201), then B (WHO_B: 202) with
     * SECCOMP_FILTER_FLAG_LOG; {@code notif}: besides A, a filter that can return SECCOMP_RET_USER_NOTIF (with no
     * listener). Prints its count and the two errnos every 50 ms.
     */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <linux/audit.h>
            #include <linux/filter.h>
            #include <linux/seccomp.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/prctl.h>
            #include <sys/resource.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            static void install(unsigned who, unsigned action, unsigned flags) {
                struct sock_filter f[] = {
                    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpriority, 0, 3),
                    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, who, 0, 1),
                    BPF_STMT(BPF_RET | BPF_K, action),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                };
                struct sock_fprog p = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p)) { perror("seccomp"); _exit(2); }
            }
            static int errno_of(unsigned who) {
                errno = 0;
                return syscall(SYS_getpriority, PRIO_PROCESS, who) == -1 ? errno : 0;
            }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 3;
                install(0x7ecc0a01, SECCOMP_RET_ERRNO | 201, 0);
                if (argc > 1 && !strcmp(argv[1], "notif"))
                    install(0x7ecc0c03, SECCOMP_RET_USER_NOTIF, 0);
                else if (argc > 1 && !strcmp(argv[1], "big")) {
                    /* BPF_MAXINSNS instructions: jumps that go nowhere, then WHO_B's errno (any call) */
                    static struct sock_filter f[4096];
                    f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
                    for (int i = 1; i < 4093; i++)
                        f[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 0, 0);
                    f[4093] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x7ecc0b02, 0, 1);
                    f[4094] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 202);
                    f[4095] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
                    struct sock_fprog p = { .len = 4096, .filter = f };
                    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p)) { perror("seccomp big"); _exit(2); }
                } else
                    install(0x7ecc0b02, SECCOMP_RET_ERRNO | 202, SECCOMP_FILTER_FLAG_LOG);
                for (int i = 0;; i++) {
                    printf("%d %d %d\\n", i, errno_of(0x7ecc0a01), errno_of(0x7ecc0b02));
                    usleep(50000);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void filtersComeBackInTheirOrderWithTheirFlagsAndStillAct() throws Exception {
        Path exe = CProgram.compile(tmp, "seccomp-chain", PROGRAM);
        Path img = Files.createDirectory(tmp.resolve("img")), again = Files.createDirectory(tmp.resolve("again"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "chain")) {
            t.awaitLines(2);
            assertTrue(t.lines().get(1).endsWith(" 201 202"), t.lines().toString());
            Checkpoint.dumpUntilGone(t, 2, img);

            // as CRIU writes them: the thread core names the oldest filter, each prev the next newer one
            ImageDir dir = ImageDir.open(img);
            core_entry core = dir.core(t.pid());
            assertEquals(seccomp_mode.filter, core.getThreadCore().getSeccompMode());
            List<seccomp_filter> filters = dir.seccomp().getSeccompFiltersList();
            assertEquals(2, filters.size(), filters.toString());
            seccomp_filter oldest = filters.get(core.getThreadCore().getSeccompFilter());
            assertTrue(names(oldest, WHO_A), "the core names A, the first installed");
            assertEquals(0, oldest.getFlags());
            assertTrue(oldest.hasPrev());
            seccomp_filter newer = filters.get(oldest.getPrev());
            assertTrue(names(newer, WHO_B), "A's prev is B, installed after it");
            assertEquals(Seccomp.FLAG_LOG, newer.getFlags());
            assertFalse(newer.hasPrev(), "B is the newest");
            assertEquals(1, core.getThreadCore().getCreds().getNoNewPrivs());

            assertEquals(0, Checkpoint.restore(img));
            int seen = t.lines().size();
            t.awaitLines(seen + 3);
            List<String> lines = t.lines();
            for (int i = 0; i < lines.size(); i++) {
                assertEquals(i + " 201 202", lines.get(i), "both filters act after the restore, nothing lost: " + lines);
            }
            // dumped again, running on: the same filters, in the same order, with the same flags
            Checkpoint.dump(t.pid(), again, true);
            assertEquals(dir.seccomp(), ImageDir.open(again).seccomp());
            assertEquals(core.getThreadCore().getSeccompFilter(),
                    ImageDir.open(again).core(t.pid()).getThreadCore().getSeccompFilter());
            int now = t.lines().size();
            t.awaitLines(now + 2);
        }
    }

    /** A filter of BPF_MAXINSNS instructions, more than the restore's scratch page holds, goes through a mapping. */
    @Test
    void theLargestFilterComesBackToo() throws Exception {
        Path exe = CProgram.compile(tmp, "seccomp-big", PROGRAM);
        Path img = Files.createDirectory(tmp.resolve("img"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "big")) {
            t.awaitLines(2);
            List<String> maps = Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps"));
            Checkpoint.dumpUntilGone(t, 2, img);
            ImageDir dir = ImageDir.open(img);
            seccomp_filter oldest = dir.seccomp().getSeccompFilters(dir.core(t.pid()).getThreadCore().getSeccompFilter());
            assertEquals(4096 * 8, dir.seccomp().getSeccompFilters(oldest.getPrev()).getFilter().size());
            assertEquals(0, Checkpoint.restore(img));
            int seen = t.lines().size();
            t.awaitLines(seen + 3);
            List<String> lines = t.lines();
            for (int i = 0; i < lines.size(); i++) {
                assertEquals(i + " 201 202", lines.get(i), "both filters act after the restore: " + lines);
            }
            String status = Files.readString(Path.of("/proc/" + t.pid() + "/status"));
            assertTrue(status.contains("Seccomp_filters:\t2\n"), status);
            assertEquals(maps, Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps")),
                    "the mapping that carried the filter in is gone");
        }
    }

    @Test
    void aFilterThatCanNotifyASupervisorIsRefusedAndTheProcessRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "seccomp-notif", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "notif")) {
            t.awaitLines(2);
            CryoException e = assertThrows(CryoException.class,
                    () -> Checkpoint.dump(t.pid(), Files.createDirectory(tmp.resolve("img")), false));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + t.pid() + ": seccomp filter 1 (0 is the oldest) "
                    + "of its thread " + t.pid() + " can return SECCOMP_RET_USER_NOTIF"), e.getMessage());
            assertTrue(t.alive());
            int seen = t.lines().size();
            t.awaitLines(seen + 2); // runs on, untraced
            assertEquals("0", tracerPid(t.pid()));
        }
    }

    @Test
    void anImageWhoseFiltersCannotBeRestoredIsRefusedBeforeAnyTaskIsMade() throws Exception {
        Path exe = CProgram.compile(tmp, "seccomp-chain", PROGRAM);
        Path img = Files.createDirectory(tmp.resolve("img"));
        int pid;
        seccomp_entry good;
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "chain")) {
            pid = t.pid();
            Checkpoint.dumpUntilGone(t, 2, img);
            good = ImageDir.open(img).seccomp();
        }
        Files.delete(img.resolve(ImageChecksums.FILE)); // the images are changed below
        byte[] notify = good.getSeccompFilters(0).getFilter().toByteArray();
        java.nio.ByteBuffer.wrap(notify).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(4 * 8 + 4, 0x7fc00000);
        List<seccomp_filter> loop = new ArrayList<>(good.getSeccompFiltersList());
        loop.set(0, loop.get(0).toBuilder().setPrev(1).build());
        List<seccomp_filter> cut = new ArrayList<>(good.getSeccompFiltersList());
        cut.set(0, cut.get(0).toBuilder().setFilter(cut.get(0).getFilter().substring(0, 12)).build());
        List<seccomp_filter> notif = new ArrayList<>(good.getSeccompFiltersList());
        notif.set(0, notif.get(0).toBuilder().setFilter(com.google.protobuf.ByteString.copyFrom(notify)).build());
        List<seccomp_filter> listener = new ArrayList<>(good.getSeccompFiltersList());
        listener.set(0, listener.get(0).toBuilder().setFlags(Seccomp.FLAG_NEW_LISTENER).build());
        String[][] cases = {
                {"loop", "names a seccomp filter chain that loops"},
                {"cut", "has 12 bytes, not 1 to 4096 instructions of 8 (a corrupted image)"},
                {"notif", "can return SECCOMP_RET_USER_NOTIF"},
                {"listener", "has flags 0x8, of which 0x8 cannot be set again"},
                {"none", "names seccomp filter 1, seccomp.img has 0 (a corrupted image)"}};
        for (String[] c : cases) {
            List<seccomp_filter> entries = switch (c[0]) {
                case "loop" -> loop;
                case "cut" -> cut;
                case "notif" -> notif;
                case "listener" -> listener;
                default -> List.of();
            };
            ImageFile.of("SECCOMP", List.of(seccomp_entry.newBuilder().addAllSeccompFilters(entries).build()))
                    .write(img.resolve("seccomp.img"));
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.restore(img), c[0]);
            assertTrue(e.getMessage().startsWith("cannot restore pid " + pid + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
            assertFalse(Target.adopt(pid, tmp.resolve("out.txt")).alive(), c[0] + ": no task is made");
        }
    }

    /** A Cryo under seccomp (here an allow-all filter, as a container's default profile would be) cannot suspend it. */
    @Test
    void aCryoUnderSeccompRefusesATargetUnderSeccompNamingWhy() throws Exception {
        Path exe = CProgram.compile(tmp, "seccomp-chain", PROGRAM);
        Path confine = CProgram.compile(tmp, "confine", """
                #include <linux/filter.h>
                #include <linux/seccomp.h>
                #include <sys/prctl.h>
                #include <sys/syscall.h>
                #include <unistd.h>
                int main(int argc, char **argv) {
                    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
                    struct sock_fprog p = { .len = 1, .filter = &allow };
                    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
                            || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p)) return 99;
                    execv(argv[1], argv + 1);
                    return 98;
                }
                """);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "chain")) {
            t.awaitLines(2);
            Process p = new ProcessBuilder(confine.toString(), java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                    "-cp", System.getProperty("java.class.path"), dev.cryo.engine.cli.Main.class.getName(), "dump",
                    "-t", Integer.toString(t.pid()), "-D", Files.createDirectory(tmp.resolve("img")).toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertNotEquals(0, p.exitValue(), out);
            assertTrue(out.contains("cannot dump pid " + t.pid() + ": it runs under seccomp (mode 2), whose filters "
                    + "Cryo cannot read nor suspend: Cryo runs under seccomp itself"), out);
            assertFalse(out.contains("\tat "), "no stack trace: " + out);
            int seen = t.lines().size();
            t.awaitLines(seen + 2);
            assertEquals("0", tracerPid(t.pid()));
        }
    }

    /** Whether the filter compares the syscall's argument with {@code who} (its jeq's constant). */
    private static boolean names(seccomp_filter f, int who) {
        java.nio.ByteBuffer b = f.getFilter().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + 8 <= b.limit(); at += 8) {
            if (b.getInt(at + 4) == who) {
                return true;
            }
        }
        return false;
    }

    private static String tracerPid(int pid) throws Exception {
        return await().atMost(Duration.ofSeconds(5)).until(() -> Files.readAllLines(Path.of("/proc/" + pid + "/status"))
                .stream().filter(l -> l.startsWith("TracerPid:")).findFirst().orElseThrow().substring(10).strip(),
                "0"::equals);
    }
}
