package dev.cryo.engine.ptrace;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How a task stopped inside a syscall starts again in the restored process. */
class SyscallRestartTest {
    private static Registers stoppedIn(long nr, long rax) {
        return new Registers(new long[Registers.COUNT]).with(Registers.ORIG_RAX, nr).with(Registers.RAX, rax)
                .with(Registers.RIP, 0x1002);
    }

    @Test
    void aRestartableSyscallIsMadeAgain() {
        Registers r = stoppedIn(0 /* read */, Registers.ERESTARTSYS).forNewTask();
        assertEquals(0, r.get(Registers.RAX));
        assertEquals(0x1000, r.rip());
        assertEquals(-1, r.get(Registers.ORIG_RAX));
    }

    @Test
    void aRelativeSleepSleepsWhatWasLeftOfIt() {
        Registers n = stoppedIn(35, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDI, 0x7000).with(Registers.RSI, 0x7010)
                .forNewTask();
        assertEquals(35, n.get(Registers.RAX), "nanosleep again");
        assertEquals(0x7010, n.get(Registers.RDI), "for the time left, which the kernel wrote to rem");
        assertEquals(0x1000, n.rip());
        Registers c = stoppedIn(230, Registers.ERESTART_RESTARTBLOCK).with(Registers.RSI, 0).with(Registers.RDX, 0x7000)
                .with(Registers.R10, 0x7010).forNewTask();
        assertEquals(230, c.get(Registers.RAX));
        assertEquals(0x7010, c.get(Registers.RDX));
    }

    @Test
    void whatLeavesNoTimeLeftToReadReturnsEintr() {
        Registers noRem = stoppedIn(35, Registers.ERESTART_RESTARTBLOCK).with(Registers.RSI, 0).forNewTask();
        assertEquals(Registers.EINTR, noRem.get(Registers.RAX));
        assertEquals(0x1002, noRem.rip());
        Registers poll = stoppedIn(7, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDX, 5000).forNewTask();
        assertEquals(Registers.EINTR, poll.get(Registers.RAX), "a poll with a timeout: what was left is unknown");
        Registers abs = stoppedIn(230, Registers.ERESTART_RESTARTBLOCK).with(Registers.RSI, 1).with(Registers.R10, 0x7010)
                .forNewTask();
        assertEquals(Registers.EINTR, abs.get(Registers.RAX));
    }

    @Test
    void aPollWithoutTimeoutIsCalledAgain() {
        Registers r = stoppedIn(7, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDI, 0x7000).with(Registers.RSI, 1)
                .with(Registers.RDX, 0xffffffffL).forNewTask();
        assertEquals(7, r.get(Registers.RAX));
        assertEquals(0x1000, r.rip());
        assertEquals(0x7000, r.get(Registers.RDI));
        assertEquals(0xffffffffL, r.get(Registers.RDX));
    }

    @Test
    void restartSyscallIsToldFromTheInstructionThatLoadedItsNumber() {
        Registers r = stoppedIn(219, Registers.ERESTART_RESTARTBLOCK);
        byte[] poll = {(byte) 0xb8, 7, 0, 0, 0, 0x0f, 0x05};
        byte[] clock = {(byte) 0xb8, (byte) 0xe6, 0, 0, 0, 0x0f, 0x05};
        byte[] read = {(byte) 0xb8, 0, 0, 0, 0, 0x0f, 0x05};
        byte[] fromRegister = {0x48, (byte) 0x89, (byte) 0xf8, (byte) 0x90, (byte) 0x90, 0x0f, 0x05};
        assertEquals(7, r.restartedSyscall(poll));
        assertEquals(230, r.restartedSyscall(clock));
        assertEquals(-1, r.restartedSyscall(read), "not a syscall the restore resumes");
        assertEquals(-1, r.restartedSyscall(fromRegister), "a number not in the code");
        assertEquals(-1, r.restartedSyscall(null));
        assertEquals(-1, stoppedIn(7, Registers.ERESTART_RESTARTBLOCK).restartedSyscall(poll), "not in restart_syscall");
    }

    @Test
    void aSignalFrameMakesAgainWhatItsRestartBlockWouldHaveResumed() {
        Registers poll = stoppedIn(7, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDX, 5000).resumedBySigreturn();
        assertEquals(7, poll.get(Registers.RAX), "rt_sigreturn empties the restart block: the poll is made again");
        assertEquals(0x1000, poll.rip());
        Registers sleep = stoppedIn(35, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDI, 0x7000)
                .with(Registers.RSI, 0x7010).resumedBySigreturn();
        assertEquals(0x7010, sleep.get(Registers.RDI), "a sleep with rem: for the time left, as forNewTask");
        Registers restart = stoppedIn(219, Registers.ERESTART_RESTARTBLOCK).resumedBySigreturn();
        assertEquals(Registers.EINTR, restart.get(Registers.RAX), "restart_syscall itself has nothing to resume");
        Registers read = stoppedIn(0, Registers.ERESTARTSYS).resumedBySigreturn();
        assertEquals(0, read.get(Registers.RAX));
        assertEquals(0x1000, read.rip());
    }

    @Test
    void theImageHoldsTheRestartDecidedAsCriuWritesIt() {
        Registers read = stoppedIn(0, Registers.ERESTARTSYS).forImage();
        assertEquals(0, read.get(Registers.RAX), "made again: rax holds the syscall's number");
        assertEquals(0x1000, read.rip(), "back on the syscall instruction");
        assertEquals(0, read.get(Registers.ORIG_RAX), "orig_rax still names it, as in CRIU's images");
        Registers futex = stoppedIn(202, Registers.ERESTART_RESTARTBLOCK).forImage();
        assertEquals(Registers.EINTR, futex.get(Registers.RAX), "no time left to read: EINTR, as CRIU writes it");
        assertEquals(0x1002, futex.rip());
        Registers sleep = stoppedIn(35, Registers.ERESTART_RESTARTBLOCK).with(Registers.RDI, 0x7000)
                .with(Registers.RSI, 0x7010).forImage();
        assertEquals(35, sleep.get(Registers.RAX), "slept again for the time left");
        assertEquals(0x7010, sleep.get(Registers.RDI));
        for (Registers r : java.util.List.of(stoppedIn(0, Registers.ERESTARTSYS), stoppedIn(1, Registers.ERESTARTNOINTR),
                stoppedIn(202, Registers.ERESTART_RESTARTBLOCK), stoppedIn(35, Registers.ERESTART_RESTARTBLOCK)
                        .with(Registers.RSI, 0x7010), stoppedIn(-1, 0x1234), stoppedIn(7, Registers.EINTR))) {
            assertEquals(r.forNewTask(), r.forImage().forNewTask(), "the restore of the image starts it the same way");
        }
    }
}
