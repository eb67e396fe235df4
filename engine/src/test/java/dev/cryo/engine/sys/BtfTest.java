package dev.cryo.engine.sys;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Members of the running kernel's task_struct as {@link Btf#member} finds them: what a BPF program may load. */
class BtfTest {
    private static Btf kernel;

    @BeforeAll
    static void kernelBtf() throws IOException {
        boolean present = Files.isReadable(Btf.VMLINUX);
        if (!present) {
            System.out.println("SKIPPED: no " + Btf.VMLINUX + " (a kernel built without BTF)");
        }
        Assumptions.assumeTrue(present, "no kernel BTF");
        kernel = Btf.vmlinux();
    }

    @Test
    void scalarsPointersAndBitFields() throws IOException {
        assertEquals(4, kernel.member("task_struct", "pid").size());
        assertEquals(8, kernel.member("task_struct", "robust_list").size(), "a pointer");
        Btf.Member bit = kernel.member("task_struct", "sched_reset_on_fork");
        assertEquals(1, bit.bits(), "a one-bit field");
        assertEquals(1, bit.size(), "loaded as the byte that holds it");
    }

    @Test
    void arraysOfBytesAndOfWords() throws IOException {
        assertEquals(16, kernel.member("task_struct", "comm").size(), "TASK_COMM_LEN bytes");
        // sigset_t on x86-64: one unsigned long, reached through two structs (sigpending, then the typedef'd sigset_t)
        Btf.Member pending = kernel.member("task_struct", "pending.signal.sig");
        assertEquals(8, pending.size());
        assertTrue(pending.offset() > kernel.member("task_struct", "pid").offset(), "past pid, as the kernel lays it out");
    }

    @Test
    void whatAProgramCannotLoadIsRefused() {
        assertThrows(IOException.class, () -> kernel.member("task_struct", "pending.signal"), "a struct");
        assertThrows(IOException.class, () -> kernel.member("task_struct", "no_such_member"));
        assertThrows(IOException.class, () -> kernel.member("no_such_struct", "pid"));
    }
}
