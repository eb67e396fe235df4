package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.HelperProcess;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.*;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Pays the JVM's one-time costs (class loading, JNR stub generation, protobuf descriptors) before the target is
 * frozen: a rehearsal dumps a helper process of Cryo's own through the same code, into a throwaway directory.
 * The target's frozen time is then the real work only.
 */
public final class Warmup {
    /**
     * {@code -Dcryo.warmup=}: {@code light} runs the image encoders, /proc readers and native bindings without a
     * helper; {@code full} rehearses a whole dump of a spawned helper; {@code false} skips it (to measure what it
     * buys). Default: full. Once the frozen path was trimmed (syscalls through jffi, no NIO, no JNR proxy) the
     * cold dump of the helper cost about what the light one did, and it leaves nothing unrehearsed: the light one
     * left the frozen time at ~8 ms where the full one gives ~5 (engine/docs/performance.md).
     */
    static final String MODE = System.getProperty("cryo.warmup", "full");
    static final boolean ENABLED = !"false".equals(MODE);

    private Warmup() {
    }

    /**
     * For {@code cryo __train}: one rehearsal on a tracer thread, so that the class-data archive holds every class
     * a dump loads (protobuf, JNR, NIO), not only Cryo's own; then a restore of what it dumped, so that a restore's
     * classes, lambdas and method profiles are in the archive too. Quietly does nothing where Cryo cannot trace.
     */
    public static void train() {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("cryo-training");
            Path images = dir;
            try (dev.cryo.engine.ptrace.Tracer tracer = new dev.cryo.engine.ptrace.Tracer()) {
                tracer.call(() -> {
                    light(Log.discard());
                    dev.cryo.engine.resource.ThreadKernelView.prepare(); // its classes and path in the archive
                    try {
                        dumpHelper(images, ALL_KINDS);
                    } catch (SyscallException e) {
                        throw new CryoException("training dump: " + e.getMessage(), e);
                    }
                    return null;
                });
            }
            int pid = ImageDir.open(images).pstree().get(0).getPid();
            dev.cryo.engine.restore.Restorer.restore(new dev.cryo.engine.restore.RestoreOptions(images, true, false,
                    false, null, java.time.Duration.ofSeconds(5)), Log.discard());
            Syscall.raw(Syscall.KILL, pid, 9); // the restored helper is our child (CLONE_PARENT)
            Syscall.raw(Syscall.WAIT4, pid, 0, 0x40000000, 0);
        } catch (Exception | LinkageError e) {
            // training is best effort: an archive without these classes only starts slower
        } finally {
            delete(dir);
        }
    }

    /**
     * Starts building, on a thread of its own, the protobuf classes of every image a dump writes (their static
     * initialisers parse and link the schema's descriptors, the largest single cold cost of a dump): the dump's
     * first steps and the rehearsal go on meanwhile on the other core.
     */
    static void preloadInBackground() {
        if (!ENABLED) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                for (Message m : new Message[]{inventory_entry.getDefaultInstance(), pstree_entry.getDefaultInstance(),
                        core_entry.getDefaultInstance(), mm_entry.getDefaultInstance(), pagemap_entry.getDefaultInstance(),
                        file_entry.getDefaultInstance(), fdinfo_entry.getDefaultInstance(), fs_entry.getDefaultInstance(),
                        task_kobj_ids_entry.getDefaultInstance(), seccomp_entry.getDefaultInstance(),
                        timens_entry.getDefaultInstance(), stats_entry.getDefaultInstance()}) {
                    m.getSerializedSize();
                }
            } catch (RuntimeException | LinkageError e) {
                // the dump initialises them itself then
            }
        }, "cryo-preload");
        t.setDaemon(true);
        t.start();
    }

    /** A rehearsal running on a thread of its own; {@link #await} waits for it (and its helper's end). */
    static final class Rehearsal {
        static final Rehearsal NONE = new Rehearsal(null);
        private final Thread thread;

        private Rehearsal(Thread thread) {
            this.thread = thread;
        }

        void await() {
            if (thread != null) {
                dev.cryo.engine.sys.Threads.joinUninterruptibly(thread); // its helper is gone before Cryo goes on or exits
            }
        }
    }

    /**
     * Starts the rehearsal beside the dump's own checks of the target (which touch nothing): on two cores the
     * helper's cold dump and the checks' cold /proc reads overlap. The helper is traced by the rehearsal's thread,
     * the target later by the tracer thread: ptrace ties each tracee to the thread that seized it, nothing more.
     */
    static Rehearsal start(Log log, int pid) {
        if (!ENABLED || dev.cryo.engine.ResidentMode.on()) { // the resident service warmed up once, at its start
            return Rehearsal.NONE;
        }
        Thread t = new Thread(() -> rehearse(log, kindsOf(pid)), "cryo-rehearsal");
        t.setDaemon(true);
        t.start();
        return new Rehearsal(t);
    }

    static void rehearse(Log log) {
        rehearse(log, ALL_KINDS);
    }

    static void rehearse(Log log, java.util.Set<String> kinds) {
        if (!ENABLED) {
            return;
        }
        if (!"full".equals(MODE)) {
            light(log);
            return;
        }
        full(log, kinds);
    }

    /** The fd kinds the rehearsal's helper can hold: a socket's protocol as the kernel names it, or what it is. */
    static final java.util.Set<String> ALL_KINDS = java.util.Set.of("UNIX", "TCP", "eventfd", "eventpoll", "pipe", "tty",
            "threads");

    /**
     * Which of {@link #ALL_KINDS} the tree of {@code pid} holds (its first 64 tasks): the rehearsal warms those
     * only, so that a program without them does not pay for them (about 10 ms of rehearsal each).
     */
    static java.util.Set<String> kindsOf(int pid) {
        java.util.Set<String> kinds = new java.util.HashSet<>();
        ProcFs proc = new ProcFs();
        java.util.ArrayDeque<Integer> todo = new java.util.ArrayDeque<>(List.of(pid));
        int seen = 0;
        while (!todo.isEmpty() && seen++ < 64 && kinds.size() < ALL_KINDS.size()) {
            int p = todo.poll();
            try {
                for (dev.cryo.engine.proc.FdInfo fd : proc.fds(p)) {
                    String target = fd.target();
                    String proto = fd.extra().getOrDefault("sockproto", "");
                    if (proto.startsWith("UNIX")) {
                        kinds.add("UNIX");
                    } else if (proto.startsWith("TCP")) {
                        kinds.add("TCP");
                    } else if (target.equals("anon_inode:[eventfd]")) {
                        kinds.add("eventfd");
                    } else if (target.equals("anon_inode:[eventpoll]")) {
                        kinds.add("eventpoll");
                    } else if (target.startsWith("pipe:")) {
                        kinds.add("pipe");
                    } else if (target.startsWith("/dev/pts/") || target.equals("/dev/ptmx")) {
                        kinds.add("tty");
                    }
                }
                if (!kinds.contains("threads") && proc.status(p).threads() > 1) {
                    kinds.add("threads"); // the kernel's iterator of threads: loaded, and its path rehearsed
                }
                todo.addAll(proc.children(p));
            } catch (IOException | RuntimeException e) {
                // a task gone, or not readable: the dump says so itself
            }
        }
        if (seen >= TASKS_FOR_ITERATOR) {
            kinds.add("threads"); // a large tree's single threads read through the iterator too
        }
        return kinds;
    }

    /**
     * A tree of this many tasks loads the kernel's iterator of threads even where each task has one thread: without
     * it each task's thread gives its altstack and clear-child-tid address in two remote calls, 0.2 to 1.5 ms of
     * tracer work a task inside the frozen window (a 100-task tree), against the program's 60 to 80 ms of loading,
     * which the rehearsal pays beside the dump's checks. {@code -Dcryo.threads.kernel.tasks=N} sets it (to measure).
     */
    static final int TASKS_FOR_ITERATOR = Integer.getInteger("cryo.threads.kernel.tasks", 16);

    /**
     * The cold costs of a dump without a process to dump: protobuf's generated serializers (every image message,
     * filled), image files on disk, /proc readers on Cryo's own pid, JNR bindings of ptrace and waitpid (calls
     * that fail on a pid that cannot exist), and SecureRandom for the inventory's run id.
     */
    static void light(Log log) {
        Path dir = null;
        try {
            dir = Path.of(makeDir());
            ImageDir images = ImageDir.create(dir, DirectFiles.IMAGES);
            images.writeInventory(filled(inventory_entry.getDefaultInstance()).toBuilder()
                    .setDumpCriuRunId(RunId.next()).build());
            images.writePstree(List.of(filled(pstree_entry.getDefaultInstance())));
            images.writeCore(1, filled(core_entry.getDefaultInstance()));
            images.writeIds(1, filled(task_kobj_ids_entry.getDefaultInstance()));
            images.writeMm(1, filled(mm_entry.getDefaultInstance()));
            images.writePagemap(1, new PageMap(1, List.of(PageMap.entry(0x10000, 1, PageMap.PE_PRESENT))));
            images.writeFiles(List.of(filled(file_entry.getDefaultInstance())));
            images.writeFdinfo(1, List.of(filled(fdinfo_entry.getDefaultInstance())));
            images.writeFs(1, filled(fs_entry.getDefaultInstance()));
            images.writeSeccomp(seccomp_entry.newBuilder().build());
            images.writeTimens(0, filled(timens_entry.getDefaultInstance()));
            images.writeDumpStats(filled(stats_entry.getDefaultInstance()));
        } catch (IOException | RuntimeException e) {
            log.debug("rehearsal of the images failed (only the frozen time suffers): %s", e.getMessage());
        } finally {
            delete(dir);
        }
        try {
            int self = (int) ProcessHandle.current().pid();
            ProcFs proc = new ProcFs();
            proc.stat(self);
            proc.status(self);
            proc.tasks(self);
            proc.fds(self);
            for (MapsEntry m : proc.fastMaps(self)) {
                if (m.read()) { // process_vm_readv, as the dump reads pages
                    new RemoteMemory(self).read(m.start(), 8);
                    break;
                }
            }
            int nobody = 0x3ffffffe; // above any pid_max: every call below fails with ESRCH or ECHILD
            quietly(() -> Ptrace.seize(nobody, Ptrace.O_TRACESYSGOOD));
            quietly(() -> Ptrace.interrupt(nobody));
            quietly(() -> Ptrace.poll(nobody));
            quietly(() -> Ptrace.registers(nobody));
            quietly(() -> Ptrace.xstate(nobody));
            quietly(() -> Ptrace.sigmask(nobody));
        } catch (IOException | RuntimeException | SyscallException e) {
            log.debug("rehearsal of /proc and ptrace failed (only the frozen time suffers): %s", e.getMessage());
        }
    }

    /**
     * Looks up, on a daemon thread, the libc calls that spawn a program (symbols, jffi's call context, the
     * classes): a restore while it reads its images, before it spawns the helper; a dump that arms uffd-wp, before
     * it spawns the keeper.
     */
    public static void bindSpawnInBackground() {
        if (!ENABLED) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                dev.cryo.engine.sys.Spawn.bind();
            } catch (RuntimeException | LinkageError e) {
                // only the spawn gets slower, or fails there with its own message
            }
        }, "cryo-bind");
        t.setDaemon(true);
        t.start();
    }

    private interface NativeCall {
        void call() throws SyscallException;
    }

    private static void quietly(NativeCall c) {
        try {
            c.call();
        } catch (SyscallException expected) {
            // the pid does not exist: the binding is made all the same
        }
    }

    /**
     * A message of the generated type with every field set (one element per repeated field, optional messages three
     * deep), so that all its serializers run. Filled as a DynamicMessage and parsed back: setting fields on the
     * generated builder would go through Java reflection, which the dump itself never uses.
     */
    @SuppressWarnings("unchecked")
    private static <M extends Message> M filled(M prototype) throws InvalidProtocolBufferException {
        return (M) prototype.getParserForType().parseFrom(filled(prototype.getDescriptorForType(), 0).toByteArray());
    }

    private static DynamicMessage filled(Descriptors.Descriptor type, int depth) {
        DynamicMessage.Builder b = DynamicMessage.newBuilder(type);
        for (Descriptors.FieldDescriptor f : type.getFields()) {
            Object v = switch (f.getJavaType()) {
                case MESSAGE -> depth >= (f.isRequired() ? 8 : 3) ? null : filled(f.getMessageType(), depth + 1);
                case INT -> 1;
                case LONG -> 1L;
                case FLOAT -> 1f;
                case DOUBLE -> 1d;
                case BOOLEAN -> true;
                case STRING -> "x";
                case BYTE_STRING -> ByteString.copyFrom(new byte[]{1});
                case ENUM -> f.getEnumType().getValues().get(0);
            };
            if (v == null) {
                continue;
            }
            if (f.isRepeated()) {
                b.addRepeatedField(f, v);
            } else {
                b.setField(f, v);
            }
        }
        return b.build();
    }

    private static void full(Log log, java.util.Set<String> kinds) {
        String dir = null;
        long t0 = System.nanoTime();
        try {
            dir = makeDir();
            if (kinds.contains("threads")) {
                dev.cryo.engine.resource.ThreadKernelView.prepare(); // then the helper's dump reads its thread through it
            }
            dumpHelper(Path.of(dir), kinds);
        } catch (CryoException | IOException | RuntimeException | SyscallException e) {
            log.debug("rehearsal dump failed (only the frozen time suffers): %s", e.getMessage());
        } finally {
            if (dir != null) {
                remove(dir);
            }
        }
        log.debug("rehearsal: a dump of a helper%s in %d us", kinds.isEmpty() ? "" : " with fds " + new java.util.TreeSet<>(kinds),
                (System.nanoTime() - t0) / 1000);
    }

    /**
     * Spawns a helper and dumps it into {@code dir} through the real dump (which kills it). The helper holds the
     * fds programs most often have ({@link #helperFds}), so that their kinds' code, classes and images are warm
     * (and in the class archive the training makes): a first unix socket cost a cold dump 40 ms of frozen time.
     */
    static void dumpHelper(Path dir, java.util.Set<String> kinds) throws CryoException, SyscallException {
        int[] fds = helperFds(kinds);
        int helper;
        try {
            // a rehearsal takes well under a second; the helper's own end is what a SIGKILL'ed Cryo leaves it to
            helper = HelperProcess.spawnFor(REHEARSAL_HELPER_SECONDS, fds);
        } finally {
            for (int fd : fds) {
                Syscall.raw(Syscall.CLOSE, fd); // the helper's copies are the only ones: its sockets end with it
            }
        }
        try {
            DumpOptions o = new DumpOptions(helper, dir, false, false, false, false, false, false, null, null, null);
            new DumpRun(o, Log.discard(), true).run();
            helper = -1;
        } finally {
            if (helper > 0) {
                Syscall.raw(Syscall.KILL, helper, 9);
                Syscall.raw(Syscall.WAIT4, helper, 0, 0x40000000, 0);
            }
        }
    }

    static final int EVENTFD2 = 290, EPOLL_CREATE1 = 291, EPOLL_CTL = 233, EPOLL_CTL_ADD = 1, EPOLLIN = 1,
            F_DUPFD_CLOEXEC = 1030, O_CLOEXEC = 02000000, O_NONBLOCK = 04000, O_RDWR = 2, O_NOCTTY = 0400,
            TIOCSPTLCK = 0x40045431, TIOCGPTPEER = 0x5441;

    /**
     * Fds for the rehearsal's helper, each numbered 100 or above: a unix stream socketpair, a unix datagram pair with
     * a message queued, a TCP listener on loopback, an eventfd watched by an epoll, a pipe, a pseudo-terminal. Best effort: what cannot
     * be made here (no loopback in Cryo's namespace, a seccomp profile) is left out.
     */
    static int[] helperFds(java.util.Set<String> kinds) {
        List<Integer> fds = new java.util.ArrayList<>();
        List<Integer> made = new java.util.ArrayList<>();
        try {
            for (int type : kinds.contains("UNIX") ? new int[]{dev.cryo.engine.net.SocketFd.SOCK_STREAM,
                    dev.cryo.engine.net.SocketFd.SOCK_DGRAM} : new int[0]) {
                dev.cryo.engine.net.SocketFd[] pair = dev.cryo.engine.net.SocketFd.pair(type | O_CLOEXEC);
                made.add(pair[0].fd());
                made.add(pair[1].fd());
                // a signal for its I/O (no owner), as event loops set: the file owner's path is warmed too
                Syscall.raw(Syscall.FCNTL, pair[0].fd(), 10 /* F_SETSIG */, 29 /* SIGIO */);
                if (type == dev.cryo.engine.net.SocketFd.SOCK_DGRAM) {
                    pair[0].sendMessage(new byte[]{1, 2, 3}, new int[0], null);
                }
            }
            if (kinds.contains("TCP")) {
            dev.cryo.engine.net.SocketFd listener = dev.cryo.engine.net.SocketFd.open(dev.cryo.engine.net.SockAddr.AF_INET,
                    dev.cryo.engine.net.SocketFd.SOCK_STREAM | O_CLOEXEC, 0);
            made.add(listener.fd());
            listener.bind(new dev.cryo.engine.net.SockAddr(dev.cryo.engine.net.SockAddr.AF_INET, new byte[]{127, 0, 0, 1}, 0));
            listener.listen(1);
            }
        } catch (SyscallException | RuntimeException e) {
            // the helper goes without what is left
        }
        long efd = kinds.contains("eventfd") || kinds.contains("eventpoll") ? Syscall.raw(EVENTFD2, 0, O_CLOEXEC | O_NONBLOCK) : -1;
        if (efd >= 0) {
            made.add((int) efd);
            long ep = kinds.contains("eventpoll") ? Syscall.raw(EPOLL_CREATE1, O_CLOEXEC) : -1;
            if (ep >= 0) {
                made.add((int) ep);
                dev.cryo.engine.sys.NativeBuffer ev = dev.cryo.engine.sys.NativeBuffer.allocate(16);
                ev.putInt(0, EPOLLIN);
                ev.putLong(4, efd);
                Syscall.raw(EPOLL_CTL, ep, EPOLL_CTL_ADD, efd, ev.address());
            }
        }
        dev.cryo.engine.sys.NativeBuffer pipe = dev.cryo.engine.sys.NativeBuffer.allocate(8);
        if (kinds.contains("pipe") && Syscall.raw(Syscall.PIPE2, pipe.address(), O_CLOEXEC) == 0) {
            made.add(pipe.getInt(0));
            made.add(pipe.getInt(4));
        }
        if (kinds.contains("tty")) {
            // a pseudo-terminal, both ends (as a terminal multiplexer and its shell hold them), no controlling tty
            byte[] ptmx = "/dev/ptmx\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            dev.cryo.engine.sys.NativeBuffer path = dev.cryo.engine.sys.NativeBuffer.allocate(ptmx.length);
            path.put(0, ptmx);
            long master = Syscall.raw(Syscall.OPENAT, -100, path.address(), O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
            if (master >= 0) {
                made.add((int) master);
                dev.cryo.engine.sys.NativeBuffer unlock = dev.cryo.engine.sys.NativeBuffer.allocate(8);
                Syscall.raw(Syscall.IOCTL, master, TIOCSPTLCK, unlock.address());
                long peer = Syscall.raw(Syscall.IOCTL, master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (peer >= 0) {
                    made.add((int) peer);
                }
            }
        }
        for (int fd : made) {
            long high = Syscall.raw(Syscall.FCNTL, fd, F_DUPFD_CLOEXEC, 100);
            Syscall.raw(Syscall.CLOSE, fd);
            if (high >= 0) {
                fds.add((int) high);
            }
        }
        return fds.stream().mapToInt(Integer::intValue).toArray();
    }

    private static void delete(Path dir) {
        if (dir != null) {
            remove(dir.toString());
        }
    }

    /** Removes a directory {@link #makeDir} made, then lets go of its lock. */
    private static void remove(String dir) {
        DirectFiles.removeFlatDir(dir);
        Integer fd = LOCKS.remove(dir);
        if (fd != null) {
            DirectFiles.unlock(fd);
        }
    }

    /** The flock each rehearsal directory of this Cryo holds while it exists, by path. */
    private static final java.util.Map<String, Integer> LOCKS = new java.util.concurrent.ConcurrentHashMap<>();

    static final String DIR_PREFIX = "cryo-rehearsal-";

    /** How long a rehearsal's helper lives if Cryo is killed before it kills it (a rehearsal takes under 1 s). */
    public static final int REHEARSAL_HELPER_SECONDS = 120;

    /**
     * A rehearsal's images directory in the temporary directory, named after this Cryo's pid and flock'ed while it
     * exists. A Cryo killed by SIGKILL cannot remove its own: each rehearsal first removes those whose Cryo is gone.
     */
    static String makeDir() throws IOException {
        String parent = System.getProperty("java.io.tmpdir", "/tmp");
        removeOrphans(parent);
        String dir = DirectFiles.makeTempDir(parent, DIR_PREFIX + ProcessHandle.current().pid() + "-");
        int fd = DirectFiles.tryLockDir(dir);
        if (fd >= 0) {
            LOCKS.put(dir, fd);
        }
        return dir;
    }

    /**
     * Removes the rehearsal directories in {@code parent} whose Cryo no longer runs; returns how many. A Cryo is
     * gone when no process has the pid its directory names and its lock is free: the pid alone would misjudge a
     * Cryo in another pid namespace that shares this temporary directory (a container's, a sandbox's), whose pid
     * means another process here or none. (Between its mkdir and its flock, a fraction of a millisecond, such a
     * Cryo's directory can still look gone; its rehearsal then fails, which only costs frozen time.)
     */
    static int removeOrphans(String parent) {
        java.util.List<String> names;
        try {
            names = DirectFiles.names(parent);
        } catch (IOException e) {
            return 0;
        }
        int removed = 0;
        for (String name : names) {
            if (!name.startsWith(DIR_PREFIX)) {
                continue;
            }
            String rest = name.substring(DIR_PREFIX.length());
            int dash = rest.indexOf('-');
            int pid;
            try {
                pid = dash > 0 ? Integer.parseInt(rest.substring(0, dash)) : -1;
            } catch (NumberFormatException e) {
                pid = -1;
            }
            // kill(pid, 0): 0 or EPERM when the pid runs (a reused pid keeps the directory until it ends too)
            if (pid <= 0 || Syscall.raw(Syscall.KILL, pid, 0) != -3 /* ESRCH */) {
                continue;
            }
            int lock;
            try {
                lock = DirectFiles.tryLockDir(parent + "/" + name);
            } catch (IOException e) {
                continue; // removed meanwhile, or not ours to open
            }
            if (lock < 0) {
                continue; // its Cryo runs, under another pid namespace
            }
            try {
                DirectFiles.removeFlatDir(parent + "/" + name);
            } finally {
                DirectFiles.unlock(lock);
            }
            removed++;
        }
        return removed;
    }
}
