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
                    try {
                        dumpHelper(images);
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
    static Rehearsal start(Log log) {
        if (!ENABLED || dev.cryo.engine.ResidentMode.on()) { // the resident service warmed up once, at its start
            return Rehearsal.NONE;
        }
        Thread t = new Thread(() -> rehearse(log), "cryo-rehearsal");
        t.setDaemon(true);
        t.start();
        return new Rehearsal(t);
    }

    static void rehearse(Log log) {
        if (!ENABLED) {
            return;
        }
        if (!"full".equals(MODE)) {
            light(log);
            return;
        }
        full(log);
    }

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

    private static void full(Log log) {
        String dir = null;
        long t0 = System.nanoTime();
        try {
            dir = makeDir();
            dumpHelper(Path.of(dir));
        } catch (CryoException | IOException | RuntimeException | SyscallException e) {
            log.debug("rehearsal dump failed (only the frozen time suffers): %s", e.getMessage());
        } finally {
            if (dir != null) {
                remove(dir);
            }
        }
        log.debug("rehearsal: a dump of a helper in %d us", (System.nanoTime() - t0) / 1000);
    }

    /** Spawns a helper and dumps it into {@code dir} through the real dump (which kills it). */
    private static void dumpHelper(Path dir) throws CryoException, SyscallException {
        // a rehearsal takes well under a second; the helper's own end is what a SIGKILL'ed Cryo leaves it to
        int helper = HelperProcess.spawnFor(REHEARSAL_HELPER_SECONDS);
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
