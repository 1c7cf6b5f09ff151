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
 * <p>Constants are the Linux values shared by x86-64 and AArch64; the system call numbers,
 * which differ, are chosen by {@code os.arch}.
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
    // Plain offsets, not VarHandles from the layout: each such VarHandle is built from
    // method-handle combinators at run time, and a command that takes one lock paid ~10 ms
    // of start-up for five of them.
    static final long FLOCK_TYPE = FLOCK.byteOffset(groupElement("l_type"));
    static final long FLOCK_WHENCE = FLOCK.byteOffset(groupElement("l_whence"));
    static final long FLOCK_START = FLOCK.byteOffset(groupElement("l_start"));
    static final long FLOCK_LENGTH = FLOCK.byteOffset(groupElement("l_len"));
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
    static final int MADV_DONTNEED = 4;
    /**
     * The calling thread (so its process's memory), for the pidfd calls that take one: a
     * recent addition (this project's machine runs Linux 6.18; 6.15 has it).
     */
    static final long PIDFD_SELF = -10000;
    static final int EPERM = 1;
    static final int EBADF = 9;
    static final int EINVAL = 22;
    static final int ENOSYS = 38;
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
    private static final long ERRNO = CAPTURE_LAYOUT.byteOffset(groupElement("errno"));

    /*
     * Linking a downcall generates code at run time (a stub class per function shape), about
     * 8 ms each on a small machine, and the ahead-of-time cache of JDK 25 keeps none of it:
     * with one C function per system call, `qed info` paid for seven of them at every start.
     * So the system calls go through one entry point, the C library's syscall(2), linked
     * once with one shape (the call number and six longs); only the two library functions
     * that are not system calls (posix_fallocate, strerror) are linked apart, on first use,
     * and only error or fallback paths use them. The kernel takes what it needs of each
     * argument (an int parameter reads the low 32 bits); syscall(2) returns -1 and sets
     * errno on failure, as the wrappers do.
     */
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");

    /** System call numbers, from the kernel's tables for x86-64 and for AArch64 (asm-generic). */
    private record CallNumbers(long openat, long close, long fstat, long fallocate, long ftruncate, long lseek,
                               long fdatasync, long mmap, long madvise, long munmap, long fcntl, long pwrite64,
                               long processMadvise) {
        static CallNumbers forThisMachine() {
            String arch = System.getProperty("os.arch", "");
            return switch (arch) {
                case "amd64", "x86_64" -> new CallNumbers(257, 3, 5, 285, 77, 8, 75, 9, 28, 11, 72, 18, 440);
                case "aarch64" -> new CallNumbers(56, 57, 80, 47, 46, 62, 83, 222, 233, 215, 25, 68, 440);
                default -> throw new UnsupportedOperationException(
                        "qedkit runs on Linux x86-64 and AArch64; os.arch is " + arch);
            };
        }
    }

    private static final CallNumbers NR = CallNumbers.forThisMachine();

    /**
     * A multiple of the page size: x86-64 pages are always 4 KiB; AArch64 kernels use 4, 16
     * or 64 KiB, so there the largest. A range widened to it covers whole pages.
     */
    static final long PAGE_ALIGNMENT = switch (System.getProperty("os.arch", "")) {
        case "amd64", "x86_64" -> 4096;
        default -> 64 * 1024;
    };
    private static final long AT_FDCWD = -100;

    private static final class Syscall {
        static final MethodHandle HANDLE = downcall("syscall",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
                CAPTURE, Linker.Option.firstVariadicArg(1));
    }

    private static final class PosixFallocate {
        static final MethodHandle HANDLE = downcall("posix_fallocate",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
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
        return capture.get(JAVA_INT, ERRNO);
    }

    /** syscall(2): {@code number} with six arguments (the kernel reads those the call has); -1 and errno on failure. */
    private static long syscall(MemorySegment capture, long number, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) Syscall.HANDLE.invokeExact(capture, number, a, b, c, d, e, f);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static long syscall(MemorySegment capture, long number, long a, long b, long c, long d) {
        return syscall(capture, number, a, b, c, d, 0L, 0L);
    }

    static int open(MemorySegment capture, MemorySegment path, int flags, int mode) {
        return (int) syscall(capture, NR.openat(), AT_FDCWD, path.address(), flags, mode);
    }

    static int close(MemorySegment capture, int fd) {
        return (int) syscall(capture, NR.close(), fd, 0L, 0L, 0L);
    }

    static int fstat(MemorySegment capture, int fd, MemorySegment statBuffer) {
        return (int) syscall(capture, NR.fstat(), fd, statBuffer.address(), 0L, 0L);
    }

    static int fallocate(MemorySegment capture, int fd, int mode, long offset, long length) {
        return (int) syscall(capture, NR.fallocate(), fd, mode, offset, length);
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
        return (int) syscall(capture, NR.ftruncate(), fd, length, 0L, 0L);
    }

    static long lseek(MemorySegment capture, int fd, long offset, int whence) {
        return syscall(capture, NR.lseek(), fd, offset, whence, 0L);
    }

    /** pwrite(2): bytes written, or -1 and errno. */
    static long pwrite(MemorySegment capture, int fd, MemorySegment from, long length, long offset) {
        return syscall(capture, NR.pwrite64(), fd, from.address(), length, offset);
    }

    static int fdatasync(MemorySegment capture, int fd) {
        return (int) syscall(capture, NR.fdatasync(), fd, 0L, 0L, 0L);
    }

    /** A shared mapping of {@code length} bytes of {@code fd} at {@code offset}; address -1 on failure. */
    static MemorySegment mmap(MemorySegment capture, long length, int prot, int fd, long offset) {
        return MemorySegment.ofAddress(syscall(capture, NR.mmap(), 0L, length, prot, MAP_SHARED, fd, offset));
    }

    static int madvise(MemorySegment capture, MemorySegment address, long length, int advice) {
        return (int) syscall(capture, NR.madvise(), address.address(), length, advice, 0L);
    }

    /**
     * process_madvise(2) on this process: one advice for {@code count} ranges given as
     * {@code struct iovec}s; bytes advised, or -1 and errno. Kernels without
     * {@link #PIDFD_SELF} fail with EBADF, those that allow only a few advices through it
     * with EINVAL, those before 5.10 with ENOSYS.
     */
    static long processMadvise(MemorySegment capture, MemorySegment iovecs, long count, int advice) {
        return syscall(capture, NR.processMadvise(), PIDFD_SELF, iovecs.address(), count, advice, 0L, 0L);
    }

    static int munmap(MemorySegment capture, MemorySegment address, long length) {
        return (int) syscall(capture, NR.munmap(), address.address(), length, 0L, 0L);
    }

    static int fcntlLock(MemorySegment capture, int fd, int command, MemorySegment flock) {
        return (int) syscall(capture, NR.fcntl(), fd, command, flock.address(), 0L);
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
