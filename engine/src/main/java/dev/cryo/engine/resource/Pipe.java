package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;

/** Pipes. Not yet dumpable: refused before the process is touched. */
public final class Pipe implements FdKind {
    @Override
    public fd_types type() {
        return fd_types.PIPE;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isPipe();
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the pipe " + fd.target()
                + ", which Cryo cannot dump yet");
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        throw new UnsupportedOperationException();
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        throw new CryoException("cannot restore pid " + ctx.pid() + ": pipes are not supported yet");
    }
}
