package dev.cryo.engine.resource;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.ipc_msg_entry;
import dev.cryo.image.proto.ipc_sem_entry;
import dev.cryo.image.proto.ipc_shm_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The SysV objects of a container's own ipc namespace (issue 16): a program run as pid 1 of new pid and ipc
 * namespaces ({@code unshare --pid --ipc --fork}, as a container's init) holds three shared memory segments (one
 * attached, one detached and given to another user, one removed while attached), a message queue with six messages
 * and a lowered byte limit, a semaphore set it counts on, and a changed ipc limit. Dumped, each comes back in the new
 * ipc namespace with its id, key, owner, mode, contents, messages and values, which the program checks itself.
 */
@RootWithPtrace
class IpcNamespaceTest {
    /** The program: sets its objects up, prints "ready", counts ticks into sem 0 and segment 1; on SIGUSR2 checks all. */
    private static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/ipc.h>
            #include <sys/msg.h>
            #include <sys/sem.h>
            #include <sys/shm.h>

            union semun { int val; struct semid_ds *buf; unsigned short *array; };
            struct m { long type; char text[600]; };
            static volatile sig_atomic_t verify;
            static void on_usr2(int s) { (void)s; verify = 1; }
            #define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf(" (%s)\\n", strerror(errno)); exit(1); } while (0)

            static int text(int i, char *t) {
                int len = i == 5 ? 0 : 10 + i * 37;
                for (int j = 0; j < len; j++) t[j] = (char)('a' + (i + j) % 26);
                return len;
            }

            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                signal(SIGUSR2, on_usr2);
                long page = sysconf(_SC_PAGESIZE);
                FILE *f = fopen("/proc/sys/kernel/shmmni", "w");
                if (!f || fprintf(f, "2048\\n") < 0 || fclose(f)) FAIL("shmmni");
                int shm1 = shmget(0x5359530a, 2 * page, IPC_CREAT | IPC_EXCL | 0640);
                int shm2 = shmget(IPC_PRIVATE, 3000, IPC_CREAT | 0600);
                int shm3 = shmget(IPC_PRIVATE, page, IPC_CREAT | 0600);
                int msq = msgget(0x5359530b, IPC_CREAT | IPC_EXCL | 0620);
                int sem = semget(0x5359530c, 4, IPC_CREAT | IPC_EXCL | 0660);
                if (shm1 < 0 || shm2 < 0 || shm3 < 0 || msq < 0 || sem < 0) FAIL("get");
                unsigned char *p1 = shmat(shm1, NULL, 0), *p2 = shmat(shm2, NULL, 0), *p3 = shmat(shm3, NULL, 0);
                if (p1 == (void *)-1 || p2 == (void *)-1 || p3 == (void *)-1) FAIL("shmat");
                for (long i = 0; i < 2 * page; i++) p1[i] = (unsigned char)(i * 7 + 1);
                for (int i = 0; i < 3000; i++) p2[i] = (unsigned char)(i * 13 + 5);
                memset(p3, 0x5a, page);
                shmdt(p2);
                struct shmid_ds ds;
                if (shmctl(shm2, IPC_STAT, &ds)) FAIL("IPC_STAT");
                ds.shm_perm.uid = 65534; ds.shm_perm.gid = 65534; ds.shm_perm.mode = 0604;
                if (shmctl(shm2, IPC_SET, &ds) || shmctl(shm3, IPC_RMID, NULL)) FAIL("IPC_SET, IPC_RMID");
                struct m msg;
                for (int i = 0; i < 6; i++) {
                    msg.type = i + 1;
                    if (msgsnd(msq, &msg, text(i, msg.text), IPC_NOWAIT)) FAIL("msgsnd");
                }
                struct msqid_ds q;
                if (msgctl(msq, IPC_STAT, &q)) FAIL("msgctl");
                q.msg_qbytes = 8000;
                if (msgctl(msq, IPC_SET, &q)) FAIL("msgctl IPC_SET");
                unsigned short vals[4] = {0, 1, 300, 32767};
                union semun a = {.array = vals};
                if (semctl(sem, 0, SETALL, a)) FAIL("SETALL");
                printf("ready %d %d %d %d %d\\n", shm1, shm2, shm3, msq, sem);
                unsigned long ticks = 0;
                while (!verify) {
                    struct sembuf op = {0, 1, 0};
                    if (semop(sem, &op, 1)) FAIL("semop");
                    ticks++;
                    memcpy(p1, &ticks, sizeof ticks);
                    printf("tick %lu\\n", ticks);
                    usleep(20000);
                }
                unsigned long seen;
                memcpy(&seen, p1, sizeof seen);
                if (seen != ticks) FAIL("segment %d holds tick %lu, not %lu", shm1, seen, ticks);
                for (long i = sizeof ticks; i < 2 * page; i++)
                    if (p1[i] != (unsigned char)(i * 7 + 1)) FAIL("segment %d byte %ld differs", shm1, i);
                if (shmctl(shm1, IPC_STAT, &ds) || ds.shm_perm.__key != 0x5359530a || ds.shm_segsz != (size_t)(2 * page)
                        || (ds.shm_perm.mode & 0777) != 0640 || ds.shm_nattch != 1)
                    FAIL("segment %d: key %#x size %zu mode %o attached %lu", shm1, ds.shm_perm.__key, ds.shm_segsz,
                         ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
                if (shmctl(shm2, IPC_STAT, &ds) || ds.shm_perm.uid != 65534 || ds.shm_perm.gid != 65534
                        || (ds.shm_perm.mode & 0777) != 0604 || ds.shm_nattch != 0 || ds.shm_segsz != 3000)
                    FAIL("detached segment %d: uid %d mode %o attached %lu size %zu", shm2, ds.shm_perm.uid,
                         ds.shm_perm.mode, (unsigned long)ds.shm_nattch, ds.shm_segsz);
                p2 = shmat(shm2, NULL, SHM_RDONLY);
                if (p2 == (void *)-1) FAIL("shmat of the detached segment");
                for (int i = 0; i < 3000; i++)
                    if (p2[i] != (unsigned char)(i * 13 + 5)) FAIL("detached segment byte %d differs", i);
                shmdt(p2);
                if (shmctl(shm3, IPC_STAT, &ds) || !(ds.shm_perm.mode & SHM_DEST) || ds.shm_nattch != 1)
                    FAIL("removed segment %d: mode %o attached %lu", shm3, ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
                for (long i = 0; i < page; i++)
                    if (p3[i] != 0x5a) FAIL("removed segment byte %ld differs", i);
                if (msgctl(msq, IPC_STAT, &q) || q.msg_qnum != 6 || q.msg_qbytes != 8000 || (q.msg_perm.mode & 0777) != 0620)
                    FAIL("queue %d: %lu messages, limit %lu, mode %o", msq, (unsigned long)q.msg_qnum,
                         (unsigned long)q.msg_qbytes, q.msg_perm.mode);
                for (int i = 0; i < 6; i++) {
                    char want[600];
                    int len = text(i, want);
                    ssize_t n = msgrcv(msq, &msg, sizeof msg.text, 0, IPC_NOWAIT);
                    if (n != len || msg.type != i + 1 || memcmp(msg.text, want, len))
                        FAIL("message %d: type %ld, %zd bytes (want %d, %d)", i, msg.type, n, i + 1, len);
                }
                union semun got = {.array = vals};
                if (semctl(sem, 0, GETALL, got)) FAIL("GETALL");
                if (vals[0] != (unsigned short)ticks || vals[1] != 1 || vals[2] != 300 || vals[3] != 32767)
                    FAIL("semaphores %u %u %u %u, want %lu 1 300 32767", vals[0], vals[1], vals[2], vals[3], ticks);
                struct semid_ds sds;
                union semun st = {.buf = &sds};
                if (semctl(sem, 0, IPC_STAT, st) || (sds.sem_perm.mode & 0777) != 0660 || sds.sem_nsems != 4)
                    FAIL("semaphore set %d: mode %o", sem, sds.sem_perm.mode);
                char mni[32] = {0};
                f = fopen("/proc/sys/kernel/shmmni", "r");
                if (!f || !fgets(mni, sizeof mni, f) || atoi(mni) != 2048) FAIL("shmmni is %s", mni);
                printf("PASS after %lu ticks\\n", ticks);
                return 0;
            }
            """;

    @TempDir
    Path tmp;

    private record Started(Process unshare, int pid, Path out) {
    }

    /** The program as pid 1 of new pid and ipc namespaces, once it has printed "ready" and a few ticks. */
    private Started start() throws Exception {
        Path exe = CProgram.compile(tmp, "sysv", PROGRAM);
        Path out = tmp.resolve("out.txt");
        Process unshare;
        try {
            unshare = new ProcessBuilder("unshare", "--pid", "--ipc", "--fork", exe.toString())
                    .redirectOutput(out.toFile()).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            System.out.println("SKIPPED: unshare (util-linux) is not installed");
            assumeTrue(false, "unshare (util-linux) is not installed");
            throw e;
        }
        Path children = Path.of("/proc", Long.toString(unshare.pid()), "task", Long.toString(unshare.pid()), "children");
        await().atMost(Duration.ofSeconds(20)).until(() -> !Files.readString(children).isBlank());
        int pid = Integer.parseInt(Files.readString(children).strip().split("\\s+")[0]);
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(out).contains("tick 3\n")
                || Files.readString(out).contains("FAIL"));
        assertTrue(!Files.readString(out).contains("FAIL"), Files.readString(out));
        return new Started(unshare, pid, out);
    }

    private static void stop(Started s) throws InterruptedException {
        s.unshare().descendants().forEach(ProcessHandle::destroyForcibly);
        s.unshare().destroyForcibly();
        s.unshare().waitFor(20, TimeUnit.SECONDS);
    }

    /** Asks for the program's verdict and waits for it. */
    private static String verdict(int pid, Path out) throws Exception {
        dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, pid, 12 /* SIGUSR2 */);
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(out).contains("PASS")
                || Files.readString(out).contains("FAIL"));
        return Files.readString(out).lines().filter(l -> l.startsWith("PASS") || l.startsWith("FAIL"))
                .findFirst().orElseThrow();
    }

    @Test
    void sysvObjectsOfItsOwnIpcNamespaceComeBackWithTheirIdsAndContents() throws Exception {
        Started s = start();
        try {
            DumpOptions options = new DumpOptions(s.pid(), tmp, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            try (Log log = Log.toFile(tmp.resolve("dump.log"), 4)) {
                Dumper.dump(options, log);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(Path.of("/proc/" + s.pid())));
            ImageDir dir = ImageDir.open(tmp);
            int ns = dir.ids(1).getIpcNsId();
            assertNotEquals(dir.inventory().getRootIds().getIpcNsId(), ns, "an ipc namespace of its own");
            List<ipc_shm_entry> shm = dir.read(IpcNamespace.shmImage(ns)).entries(ipc_shm_entry.class);
            assertEquals(3, shm.size(), "three segments, attached or not: " + shm);
            assertEquals(6, dir.read(IpcNamespace.msgImage(ns)).entries(ipc_msg_entry.class).get(0).getQnum());
            assertEquals(4, dir.read(IpcNamespace.semImage(ns)).entries(ipc_sem_entry.class).get(0).getNsems());
            String ready = Files.readString(s.out()).lines().filter(l -> l.startsWith("ready")).findFirst().orElseThrow();
            int restored;
            try (Log log = Log.toFile(tmp.resolve("restore.log"), 4)) {
                restored = dev.cryo.engine.restore.Restorer.restoreTree(
                        new dev.cryo.engine.restore.RestoreOptions(tmp, true, false, false, null, null), log,
                        dev.cryo.engine.ActionScripts.NONE);
            }
            try {
                assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/ipc")),
                        Files.readSymbolicLink(Path.of("/proc/" + restored + "/ns/ipc")), "a new ipc namespace");
                String v = verdict(restored, s.out());
                assertTrue(v.startsWith("PASS"), v + "\n(objects " + ready + ")");
            } finally {
                ProcessHandle.of(restored).ifPresent(ProcessHandle::destroyForcibly);
                Reaper.reap(restored);
            }
        } finally {
            stop(s);
        }
    }

    @Test
    void aDumpThatLeavesItRunningTakesNothingFromItsObjects() throws Exception {
        Started s = start();
        try {
            DumpOptions options = new DumpOptions(s.pid(), tmp, false, true, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            Dumper.dump(options, Log.discard());
            // the queue's messages were copied, not taken; the segments were attached by Cryo and let go
            String v = verdict(s.pid(), s.out());
            assertTrue(v.startsWith("PASS"), v);
        } finally {
            stop(s);
        }
    }
}
