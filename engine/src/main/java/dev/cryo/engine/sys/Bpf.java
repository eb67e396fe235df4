package dev.cryo.engine.sys;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The bpf(2) calls a task iterator needs (load a tracing program, link it to the tasks of one process, read an
 * iteration) and an assembler for the few instructions such a program is made of. Values are the kernel's uapi
 * ({@code linux/bpf.h}): commands, program and attach types, the {@code bpf_attr} offsets of each command.
 */
public final class Bpf {
    static final int NR_BPF = 321;
    static final int PROG_LOAD = 5, LINK_CREATE = 28, ITER_CREATE = 33;
    static final int PROG_TYPE_TRACING = 26, TRACE_ITER = 28;
    /** bpf_seq_write(seq, data, len): the helper an iterator writes its records with. */
    public static final int HELPER_SEQ_WRITE = 127;

    private Bpf() {
    }

    /**
     * Loads an iterator program attached to kernel function {@code attachBtfId} (a {@code bpf_iter_*} FUNC of the
     * kernel's BTF).
     *
     * @return the program's fd
     * @throws SyscallException naming the verifier's last lines when it refuses the program
     */
    public static int loadIterator(String name, byte[] insns, int attachBtfId) throws SyscallException {
        NativeBuffer code = NativeBuffer.allocate(insns.length);
        code.put(0, insns);
        NativeBuffer license = NativeBuffer.allocate(8);
        license.put(0, "GPL\0".getBytes(StandardCharsets.US_ASCII)); // the helpers an iterator calls are GPL-only
        NativeBuffer attr = NativeBuffer.allocate(128);
        attr.putInt(0, PROG_TYPE_TRACING);
        attr.putInt(4, insns.length / 8);
        attr.putLong(8, code.address());
        attr.putLong(16, license.address());
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        attr.put(48, java.util.Arrays.copyOf(n, Math.min(n.length, 15)));
        attr.putInt(68, TRACE_ITER);
        attr.putInt(108, attachBtfId);
        long fd = Syscall.raw(NR_BPF, PROG_LOAD, attr.address(), 128);
        if (fd >= 0) {
            return (int) fd;
        }
        // again with the verifier's log, for the error only
        NativeBuffer log = NativeBuffer.allocate(1 << 16);
        attr.putInt(24, 1);
        attr.putInt(28, log.capacity());
        attr.putLong(32, log.address());
        long again = Syscall.raw(NR_BPF, PROG_LOAD, attr.address(), 128);
        if (again >= 0) {
            return (int) again;
        }
        String text = new String(log.bytes(0, log.capacity()), StandardCharsets.UTF_8);
        int end = text.indexOf('\0');
        text = (end < 0 ? text : text.substring(0, end)).strip();
        int from = Math.max(0, text.length() - 400);
        throw new SyscallException("bpf(BPF_PROG_LOAD) of " + name + (text.isEmpty() ? "" : " [" + text.substring(from)
                .replace('\n', ';') + "]"), (int) -fd);
    }

    /**
     * Links iterator program {@code prog} to the tasks (threads) of process {@code pid} only, as the caller's pid
     * namespace numbers it.
     *
     * @return the link's fd
     */
    public static int linkToProcess(int prog, int pid) throws SyscallException {
        NativeBuffer info = NativeBuffer.allocate(16); // union bpf_iter_link_info: task.tid, task.pid, task.pid_fd
        info.putInt(4, pid);
        NativeBuffer attr = NativeBuffer.allocate(64);
        attr.putInt(0, prog);
        attr.putInt(8, TRACE_ITER);
        attr.putLong(16, info.address());
        attr.putInt(24, 16);
        return (int) Syscall.call("bpf(BPF_LINK_CREATE) for pid " + pid, NR_BPF, LINK_CREATE, attr.address(), 64);
    }

    /**
     * One run of the iterator behind {@code link}: what its program wrote, read to the end.
     *
     * @param into reused between runs; grown when the records do not fit
     * @return the bytes read, from the buffer's start
     */
    public static int iterate(int link, NativeBuffer into) throws SyscallException {
        NativeBuffer attr = ATTR.get();
        attr.clear();
        attr.putInt(0, link);
        int fd = (int) Syscall.call("bpf(BPF_ITER_CREATE)", NR_BPF, ITER_CREATE, attr.address(), 8);
        try {
            int done = 0;
            while (true) {
                if (done == into.capacity()) {
                    throw new SyscallException("bpf iterator output over " + into.capacity() + " bytes", 7 /* E2BIG */);
                }
                long n = Syscall.raw(Syscall.READ, fd, into.address() + done, into.capacity() - done);
                if (n == -4 /* EINTR */) {
                    continue;
                }
                if (n < 0) {
                    throw new SyscallException("read of a bpf iterator", (int) -n);
                }
                if (n == 0) {
                    return done;
                }
                done += (int) n;
            }
        } finally {
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }

    private static final ThreadLocal<NativeBuffer> ATTR = ThreadLocal.withInitial(() -> NativeBuffer.allocate(64));

    /** The calling thread's buffers for {@link #iterate}, made now (before a freeze) rather than at its first use. */
    public static void prepareThread() {
        ATTR.get();
    }

    /** eBPF instructions, 8 bytes each: opcode, registers (dst low nibble, src high), 16-bit offset, 32-bit immediate. */
    public static final class Program {
        public static final int R0 = 0, R1 = 1, R2 = 2, R3 = 3, R6 = 6, R7 = 7, R8 = 8, R10 = 10;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        private Program insn(int code, int dst, int src, int off, int imm) {
            out.write(code);
            out.write((src << 4) | dst);
            out.write(off & 0xff);
            out.write((off >> 8) & 0xff);
            for (int i = 0; i < 4; i++) {
                out.write((imm >> (8 * i)) & 0xff);
            }
            return this;
        }

        /** dst = src (64 bits). */
        public Program mov(int dst, int src) {
            return insn(0xbf, dst, src, 0, 0);
        }

        /** dst = imm (64 bits, sign-extended). */
        public Program movImm(int dst, int imm) {
            return insn(0xb7, dst, 0, 0, imm);
        }

        /** dst += imm (64 bits). */
        public Program addImm(int dst, int imm) {
            return insn(0x07, dst, 0, 0, imm);
        }

        /** dst = *(size *)(src + off), zero-extended; size 1, 2, 4 or 8. */
        public Program load(int size, int dst, int src, int off) {
            return insn(0x61 | sizeBits(size), dst, src, off, 0);
        }

        /** *(u64 *)(dst + off) = src. */
        public Program store64(int dst, int off, int src) {
            return insn(0x7b, dst, src, off, 0);
        }

        /** if dst == imm: skip {@code skip} instructions. */
        public Program jumpIfEqual(int dst, int imm, int skip) {
            return insn(0x15, dst, 0, skip, imm);
        }

        public Program call(int helper) {
            return insn(0x85, 0, 0, 0, helper);
        }

        public Program exit() {
            return insn(0x95, 0, 0, 0, 0);
        }

        /** Instructions so far. */
        public int count() {
            return out.size() / 8;
        }

        public byte[] bytes() {
            return out.toByteArray();
        }

        private static int sizeBits(int size) {
            return switch (size) {
                case 4 -> 0x00;
                case 2 -> 0x08;
                case 1 -> 0x10;
                case 8 -> 0x18;
                default -> throw new IllegalArgumentException("load of " + size + " bytes");
            };
        }
    }
}
