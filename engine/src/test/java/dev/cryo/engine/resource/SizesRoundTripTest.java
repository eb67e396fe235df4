package dev.cryo.engine.resource;

import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Sizes that are not contents (CRIU's zdtm pipe03, unlink_largefile, ghost_holes00): an empty pipe grown with
 * F_SETPIPE_SZ keeps its size, and a deleted sparse file whose length is far over the ghost limit but whose data is
 * not is dumped without --ghost-limit and comes back with its holes (SEEK_HOLE finds them).
 */
@RootWithPtrace
class SizesRoundTripTest {
    @TempDir
    Path tmp;

    static final String PIPE = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(void) {
                int p[2];
                if (pipe(p) < 0 || fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) return 1;
                printf("ready %d\\n", fcntl(p[0], F_GETPIPE_SZ)); fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                printf("size %d\\n", fcntl(p[0], F_GETPIPE_SZ)); fflush(stdout);
                return 0;
            }
            """;

    @Test
    void anEmptyPipeKeepsTheSizeItWasGiven() throws Exception {
        assertEquals(List.of("ready 1048576", "size 1048576"), Checkpoint.goAfterRestore(tmp, "pipesize", PIPE, 2));
    }

    static final String SPARSE = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/stat.h>
            #include <unistd.h>
            int main(void) {
                char block[4096];
                memset(block, 'x', sizeof block);
                int fd = open("holes", O_RDWR | O_CREAT | O_TRUNC, 0600);
                if (fd < 0 || pwrite(fd, block, sizeof block, 64L << 20) != sizeof block || unlink("holes") < 0)
                    return 1;
                printf("ready\\n"); fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                struct stat st;
                char back[4096];
                fstat(fd, &st);
                int same = pread(fd, back, sizeof back, 64L << 20) == sizeof back && memcmp(back, block, sizeof back) == 0;
                printf("size %ld, hole at %ld, data at %ld, %s\\n", (long) st.st_size, (long) lseek(fd, 0, SEEK_HOLE),
                       (long) lseek(fd, 0, SEEK_DATA), same ? "same data" : "DIFFERENT DATA");
                fflush(stdout);
                return 0;
            }
            """;

    @Test
    void aDeletedSparseFileIsMeasuredByItsDataAndKeepsItsHoles() throws Exception {
        assertEquals(List.of("ready", "size " + ((64 << 20) + 4096) + ", hole at 0, data at " + (64 << 20)
                    + ", same data"),
                Checkpoint.goAfterRestore(tmp, "sparse", SPARSE, 2));
    }
}
