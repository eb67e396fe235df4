package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.ns_file_entry;

import java.io.IOException;
import java.util.Map;

/**
 * An fd of a namespace file (/proc/PID/ns/net and the like, "net:[4026531840]"), as a program holds one to enter its
 * namespace again later or to keep it alive. Cryo restores the namespaces a task lives in, so such an fd is dumped
 * when it is one of the task's own namespaces, as CRIU's ns_file_entry (its namespace's id in ids-PID.img and its
 * CLONE_NEW* flag), and made again by opening /proc/self/ns/TYPE in the restored task: it then names the namespace
 * the task was restored into. One of another namespace is refused by name before anything is touched.
 */
public final class NamespaceFile implements FdKind {
    /** A namespace type as /proc/PID/ns names it: its CLONE_NEW* flag and its id in ids-PID.img outside containers. */
    record NsType(String name, int cflag, int id) {
    }

    private static final dev.cryo.image.proto.task_kobj_ids_entry IDS = TaskResources.ids(0); // the ns ids written

    static final Map<String, NsType> TYPES = Map.of(
            "net", new NsType("net", 0x40000000, IDS.getNetNsId()),
            "ipc", new NsType("ipc", 0x08000000, IDS.getIpcNsId()),
            "uts", new NsType("uts", 0x04000000, IDS.getUtsNsId()),
            "mnt", new NsType("mnt", 0x00020000, IDS.getMntNsId()),
            "pid", new NsType("pid", 0x20000000, IDS.getPidNsId()),
            "user", new NsType("user", 0x10000000, IDS.getUserNsId()),
            "cgroup", new NsType("cgroup", 0x02000000, IDS.getCgroupNsId()),
            "time", new NsType("time", 0x00000080, IDS.getTimeNsId()));

    @Override
    public fd_types type() {
        return fd_types.NS;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return kindOf(fd.target()) != null;
    }

    /** The type of a namespace fd's target ("net:[4026531840]"), or null for any other file. */
    static NsType kindOf(String target) {
        int colon = target.indexOf(":[");
        return colon > 0 && target.endsWith("]") ? TYPES.get(target.substring(0, colon)) : null;
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        NsType t = kindOf(fd.target());
        String own;
        try {
            own = ctx.proc().link(ctx.pid(), "ns/" + t.name());
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the namespace file "
                    + fd.target() + ", and the task's own " + t.name() + " namespace cannot be read: " + e.getMessage(),
                    e);
        }
        if (!own.equals(fd.target())) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the namespace file "
                    + fd.target() + " of a " + t.name() + " namespace the task does not live in (its own is " + own
                    + "); Cryo restores a task's own namespaces only, so nothing would be there for it to name");
        }
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        check(ctx, fd);
        NsType t = kindOf(fd.target());
        var e = ns_file_entry.newBuilder().setId(id).setNsId(t.id()).setNsCflag(t.cflag())
                .setFlags(fd.flags() & ~RegularFile.O_CLOEXEC);
        ctx.log().info("fd %d: the task's own %s namespace (%s)", fd.fd(), t.name(), fd.target());
        return file_entry.newBuilder().setType(fd_types.NS).setId(id).setNsf(e).build();
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        ns_file_entry e = file.getNsf();
        NsType t = TYPES.values().stream().filter(x -> x.cflag() == e.getNsCflag()).findFirst()
                .orElseThrow(() -> new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd()
                        + " is a namespace file of an unknown type (CLONE flag 0x"
                        + Integer.toHexString(e.getNsCflag()) + ")"));
        try {
            return ctx.open("/proc/self/ns/" + t.name(), e.getFlags() & RegularFile.O_ACCMODE, 0);
        } catch (SyscallException x) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (its own " + t.name()
                    + " namespace, /proc/self/ns/" + t.name() + "): " + x.getMessage(), x);
        }
    }
}
