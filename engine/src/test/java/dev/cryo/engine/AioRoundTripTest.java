package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A kernel AIO context (io_setup) with its ring's head moved on and completed reads not reaped yet: after the
 * restore the context has the same id, the ring the same head and tail, io_getevents gives back exactly the
 * unreaped events (their data, results and the bytes read), and the context takes new requests.
 */
@RootWithPtrace
class AioRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void contextWithUnreapedEventsComesBack() throws Exception {
        roundTrip(5);
    }

    @Test
    void emptyContextComesBack() throws Exception {
        roundTrip(0);
    }

    private void roundTrip(int unreaped) throws Exception {
        Path exe = CProgram.compile(tmp, "aio", PROGRAM);
        Path data = tmp.resolve("data");
        Files.writeString(data, "0123456789abcdefghijklmnopqrstuv");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), data.toString(), Integer.toString(unreaped))) {
            t.awaitLines(1);
            String before = t.lines().get(0);
            assertTrue(before.startsWith("ring "), before);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(3);
            List<String> out = t.lines();
            assertEquals(before, out.get(1), "the same context, head and tail after the restore: " + out);
            assertEquals("PASS", out.get(2), out.toString());
        }
    }

    /**
     * Args: FILE UNREAPED. io_setup(8); 200 reads submitted and reaped one by one (the head wraps past the ring's
     * end), then UNREAPED reads of 4 bytes at offsets 0, 4, ... submitted and left unreaped. Prints the context and
     * the ring's head and tail; on "go" prints them again, reaps the events and checks them, then reads once more.
     */
    static final String PROGRAM = """
            #include <fcntl.h>
            #include <linux/aio_abi.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            struct ring { unsigned id, nr, head, tail, magic, compat, incompat, header; };
            static int submit(aio_context_t ctx, struct iocb *cb) {
                struct iocb *cbs[1] = {cb};
                return syscall(SYS_io_submit, ctx, 1, cbs);
            }
            int main(int argc, char **argv) {
                int unreaped = atoi(argv[2]), fd = open(argv[1], O_RDONLY);
                aio_context_t ctx = 0;
                if (fd < 0 || syscall(SYS_io_setup, 8, &ctx) < 0) { printf("FAIL setup\\n"); return 1; }
                static char buf[16][8];
                struct iocb cb[16];
                struct io_event ev[16];
                for (int i = 0; i < 200; i++) {
                    memset(&cb[0], 0, sizeof cb[0]);
                    cb[0].aio_fildes = fd; cb[0].aio_lio_opcode = IOCB_CMD_PREAD;
                    cb[0].aio_buf = (unsigned long)buf[0]; cb[0].aio_nbytes = 1;
                    if (submit(ctx, &cb[0]) != 1 || syscall(SYS_io_getevents, ctx, 1, 1, ev, NULL) != 1) {
                        printf("FAIL warm-up %d\\n", i); return 1;
                    }
                }
                for (int i = 0; i < unreaped; i++) {
                    memset(&cb[i], 0, sizeof cb[i]);
                    cb[i].aio_data = 1000 + i; cb[i].aio_fildes = fd; cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
                    cb[i].aio_buf = (unsigned long)buf[i]; cb[i].aio_nbytes = 4; cb[i].aio_offset = 4 * i;
                    if (submit(ctx, &cb[i]) != 1) { printf("FAIL submit %d\\n", i); return 1; }
                }
                struct ring *r = (struct ring *)ctx;
                printf("ring %lx head %u tail %u\\n", (unsigned long)ctx, r->head, r->tail);
                fflush(stdout);
                while (access("go", F_OK) != 0)
                    usleep(20000);
                printf("ring %lx head %u tail %u\\n", (unsigned long)ctx, r->head, r->tail);
                struct timespec zero = {0, 0};
                long got = syscall(SYS_io_getevents, ctx, 0, 16, ev, &zero);
                if (got != unreaped) { printf("FAIL reaped %ld events, not %d\\n", got, unreaped); return 1; }
                for (int i = 0; i < unreaped; i++) {
                    if (ev[i].data != 1000 + (unsigned)i || ev[i].res != 4 || ev[i].obj != (unsigned long)&cb[i]
                            || memcmp(buf[i], "0123456789abcdefghijklmnopqrstuv" + 4 * i, 4)) {
                        printf("FAIL event %d: data %llu res %lld\\n", i, (unsigned long long)ev[i].data, (long long)ev[i].res);
                        return 1;
                    }
                }
                memset(&cb[0], 0, sizeof cb[0]);
                cb[0].aio_data = 7; cb[0].aio_fildes = fd; cb[0].aio_lio_opcode = IOCB_CMD_PREAD;
                cb[0].aio_buf = (unsigned long)buf[0]; cb[0].aio_nbytes = 2; cb[0].aio_offset = 10;
                if (submit(ctx, &cb[0]) != 1 || syscall(SYS_io_getevents, ctx, 1, 1, ev, NULL) != 1
                        || ev[0].data != 7 || ev[0].res != 2 || memcmp(buf[0], "ab", 2)) {
                    printf("FAIL a new request after the restore\\n"); return 1;
                }
                printf("PASS\\n");
                fflush(stdout);
                return 0;
            }
            """;
}
