package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;

/** One kind of open file: how it is recognised, refused, dumped and restored, side by side. */
public interface FdKind {
    fd_types type();

    boolean accepts(FdInfo fd);

    /** Throws when this fd cannot be dumped with these options; runs before the process is touched. */
    default void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
    }

    /** The file entry for one open file description, {@code id} being its number in files.img. */
    file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException;

    /**
     * Opens the file in the restored task and returns the fd number it got there (any number: the caller moves
     * it to {@code fd.getFd()}).
     */
    int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException;
}
