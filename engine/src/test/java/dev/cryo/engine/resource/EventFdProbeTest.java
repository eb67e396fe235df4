package dev.cryo.engine.resource;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cryo.engine.sys.Syscall;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Kernels before the {@code eventfd-semaphore} line of fdinfo (Debian 12's 6.1) leave EFD_SEMAPHORE to be asked of
 * the counter: the probe tells the two modes apart at every count, and leaves the count as it found it. Run here on
 * eventfds of this JVM (pidfd_getfd of its own fds), whatever the kernel shows.
 */
class EventFdProbeTest {
    private static final int EFD_NONBLOCK = 04000;

    @ParameterizedTest(name = "semaphore {0}, count {1}, non-blocking {2}")
    @CsvSource({"true, 0, false", "true, 1, false", "true, 2, false", "true, 7, true", "true, 0, true",
            "false, 0, false", "false, 1, true", "false, 2, false", "false, 7, false", "false, 4294967301, false"})
    void tellsTheModeAndKeepsTheCount(boolean semaphore, long count, boolean nonBlocking) throws Exception {
        int pid = (int) ProcessHandle.current().pid();
        int fd = (int) Syscall.call("eventfd2", EventFd.EVENTFD2, 0,
                (semaphore ? EventFd.EFD_SEMAPHORE : 0) | (nonBlocking ? EFD_NONBLOCK : 0));
        try {
            if (count != 0) {
                dev.cryo.engine.sys.NativeBuffer b = dev.cryo.engine.sys.NativeBuffer.allocate(8);
                b.putLong(0, count);
                Syscall.call("write", Syscall.WRITE, fd, b.address(), 8);
            }
            assertEquals(semaphore, EventFd.probeSemaphore(pid, fd, count));
            assertEquals(count, countOf(pid, fd), "the count after the probe");
        } finally {
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }

    private static long countOf(int pid, int fd) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/fdinfo/" + fd))) {
            if (line.startsWith("eventfd-count:")) {
                return Long.parseUnsignedLong(line.substring("eventfd-count:".length()).trim(), 16);
            }
        }
        throw new AssertionError("no eventfd-count in fdinfo of fd " + fd);
    }
}
