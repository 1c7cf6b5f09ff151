package org.qedkit.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The handful of Linux system calls the engine needs, reached through the foreign function
 * API with {@code errno} captured at the call.
 *
 * <p>Each wrapper returns the raw result and leaves {@code errno} in the caller's capture
 * segment; {@link MappedImageFile} turns failures into exceptions that name the operation. Only
 * slow paths (open, allocation, sync, close) come here: the read and write paths touch the
 * mapping and never make a system call.
 *
 * <p>Constants are the Linux values shared by x86-64 and AArch64.
 */
final class Posix {
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CREAT = 0100;
    static final int O_CLOEXEC = 02000000;

    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;

    static final int F_OFD_GETLK = 36;
    static final int F_OFD_SETLK = 37;
    static final short F_RDLCK = 0;
    static final short F_WRLCK = 1;
    static final short F_UNLCK = 2;
    /** {@code struct flock} as glibc lays it out on 64-bit Linux (x86-64 and AArch64 alike). */
    static final StructLayout FLOCK = MemoryLayout.structLayout(
            ValueLayout.JAVA_SHORT.withName("l_type"),
            ValueLayout.JAVA_SHORT.withName("l_whence"),
            MemoryLayout.paddingLayout(4),
            ValueLayout.JAVA_LONG.withName("l_start"),
            ValueLayout.JAVA_LONG.withName("l_len"),
            ValueLayout.JAVA_INT.withName("l_pid"),
            MemoryLayout.paddingLayout(4));
    static final VarHandle FLOCK_TYPE = FLOCK.varHandle(groupElement("l_type"));
    static final VarHandle FLOCK_WHENCE = FLOCK.varHandle(groupElement("l_whence"));
    static final VarHandle FLOCK_START = FLOCK.varHandle(groupElement("l_start"));
    static final VarHandle FLOCK_LENGTH = FLOCK.varHandle(groupElement("l_len"));
    static final short SEEK_SET = 0;

    static final int EINTR = 4;
    static final int ENXIO = 6;
    static final int EISDIR = 21;
    static final int ENOSPC = 28;
    static final int SEEK_END = 2;
    static final int SEEK_DATA = 3;
    static final int MADV_NORMAL = 0;
    static final int MADV_RANDOM = 1;
    static final int MADV_SEQUENTIAL = 2;
    static final int SEEK_HOLE = 4;
    static final int EOPNOTSUPP = 95;
    /** {@code fallocate} modes: keep the file's length; give the range's blocks back (reads as zeros). */
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;

    /** Offsets into {@code struct stat} that agree on x86-64 and the generic (AArch64) layout. */
    static final long STAT_MODE_OFFSET = 24;
    static final int S_IFMT = 0170000;
    static final int S_IFBLK = 0060000;
    static final long STAT_SIZE_OFFSET = 48;
    static final long STAT_BLOCKS_OFFSET = 64;
    static final long STAT_BUFFER_BYTES = 256;

    static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(groupElement("errno"));

    /*
     * Each C function is linked on its first call, in a holder class of its own: linking a
     * downcall generates code, and a command such as `qed info` uses five of the thirteen.
     * Linking all of them when this class loaded cost every command all thirteen.
     */
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");

    private static final class Open {
        static final MethodHandle HANDLE = downcall("open",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                CAPTURE, Linker.Option.firstVariadicArg(2));
    }

    private static final class Close {
        static final MethodHandle HANDLE = downcall("close",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT), CAPTURE);
    }

    private static final class Fstat {
        static final MethodHandle HANDLE = downcall("fstat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), CAPTURE);
    }

    private static final class Fallocate {
        static final MethodHandle HANDLE = downcall("fallocate",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), CAPTURE);
    }

    private static final class PosixFallocate {
        static final MethodHandle HANDLE = downcall("posix_fallocate",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    }

    private static final class Ftruncate {
        static final MethodHandle HANDLE = downcall("ftruncate",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), CAPTURE);
    }

    private static final class Lseek {
        static final MethodHandle HANDLE = downcall("lseek",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), CAPTURE);
    }

    private static final class Fdatasync {
        static final MethodHandle HANDLE = downcall("fdatasync",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT), CAPTURE);
    }

    private static final class Mmap {
        static final MethodHandle HANDLE = downcall("mmap",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG),
                CAPTURE);
    }

    private static final class Madvise {
        static final MethodHandle HANDLE = downcall("madvise",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), CAPTURE);
    }

    private static final class Munmap {
        static final MethodHandle HANDLE = downcall("munmap",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), CAPTURE);
    }

    private static final class FcntlLock {
        static final MethodHandle HANDLE = downcall("fcntl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
                CAPTURE, Linker.Option.firstVariadicArg(2));
    }

    private static final class Strerror {
        static final MethodHandle HANDLE = downcall("strerror",
                FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private Posix() {
    }

    @SuppressWarnings("restricted") // the reason this class exists; callers pass --enable-native-access
    private static MethodHandle downcall(String name, FunctionDescriptor fd, Linker.Option... options) {
        MemorySegment symbol = LIBC.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, fd, options);
    }

    static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    static int open(MemorySegment capture, MemorySegment path, int flags, int mode) {
        try {
            return (int) Open.HANDLE.invokeExact(capture, path, flags, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int close(MemorySegment capture, int fd) {
        try {
            return (int) Close.HANDLE.invokeExact(capture, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fstat(MemorySegment capture, int fd, MemorySegment statBuffer) {
        try {
            return (int) Fstat.HANDLE.invokeExact(capture, fd, statBuffer);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fallocate(MemorySegment capture, int fd, int mode, long offset, long length) {
        try {
            return (int) Fallocate.HANDLE.invokeExact(capture, fd, mode, offset, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Returns 0 or an errno value (posix_fallocate does not use errno). */
    static int posixFallocate(int fd, long offset, long length) {
        try {
            return (int) PosixFallocate.HANDLE.invokeExact(fd, offset, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int ftruncate(MemorySegment capture, int fd, long length) {
        try {
            return (int) Ftruncate.HANDLE.invokeExact(capture, fd, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long lseek(MemorySegment capture, int fd, long offset, int whence) {
        try {
            return (long) Lseek.HANDLE.invokeExact(capture, fd, offset, whence);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fdatasync(MemorySegment capture, int fd) {
        try {
            return (int) Fdatasync.HANDLE.invokeExact(capture, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment mmap(MemorySegment capture, long length, int prot, int fd, long offset) {
        try {
            return (MemorySegment) Mmap.HANDLE.invokeExact(capture, MemorySegment.NULL, length, prot,
                    MAP_SHARED, fd, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int madvise(MemorySegment capture, MemorySegment address, long length, int advice) {
        try {
            return (int) Madvise.HANDLE.invokeExact(capture, address, length, advice);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int munmap(MemorySegment capture, MemorySegment address, long length) {
        try {
            return (int) Munmap.HANDLE.invokeExact(capture, address, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fcntlLock(MemorySegment capture, int fd, int command, MemorySegment flock) {
        try {
            return (int) FcntlLock.HANDLE.invokeExact(capture, fd, command, flock);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The C library's description of an errno value, e.g. "No space left on device". */
    @SuppressWarnings("restricted") // strerror returns a NUL-terminated string of unknown length
    static String describe(int errno) {
        try {
            MemorySegment text = (MemorySegment) Strerror.HANDLE.invokeExact(errno);
            return text.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    static Arena scratch() {
        return Arena.ofConfined();
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("native call failed", t);
    }
}
