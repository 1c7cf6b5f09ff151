package org.qedkit.internal;

import org.qedkit.QedException;
import org.qedkit.QedIoException;
import org.qedkit.QedLockedException;
import org.qedkit.internal.hooks.StorageObserver;
import org.qedkit.AccessPattern;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * An image file reached through shared memory mappings, with the few system calls that
 * change it.
 *
 * <h2>Mappings</h2>
 * The file is mapped in fixed 1 GiB chunks, each made on first use and kept until close.
 * A chunk may extend past the end of the file (Linux allows it), so growing the file never
 * remaps anything: new clusters simply become touchable once {@link #extend} has reserved
 * them with {@code fallocate}. Every cluster size divides the chunk size and every cluster
 * offset is cluster-aligned, so a cluster never straddles two chunks; tables may, and are
 * only ever read one aligned 8-byte entry at a time.
 *
 * <h2>Never touch what is not there</h2>
 * Touching a mapped page that lies past the end of the file, or a page of a hole when the
 * disk is full, raises SIGBUS and takes the JVM down. So every access checks its range
 * against {@link #size()}, the length this process knows the file to have, and new space
 * is always reserved with {@code fallocate} (which fails with ENOSPC, an exception) before
 * a page of it is touched. Callers validate offsets read from the image before they get
 * here; the checks here are the last line, and throw {@link IllegalStateException}.
 *
 * <h2>Lifetime</h2>
 * All chunks belong to one shared {@link Arena}. Closing it unmaps them after a handshake
 * with every thread, so a thread racing with close gets an exception, never a dangling
 * pointer. The handshake costs about a tenth of a millisecond and happens once per file.
 *
 * <h2>Readahead</h2>
 * A fault on a mapped page that is not in the page cache makes the kernel read around it
 * (128 KiB by default), for writes as well as reads. Past the length the file had when it
 * was opened (or was cut to since), everything is space this process reserved with
 * {@code fallocate}: it holds zeros, there is nothing worth reading around, and a read-around
 * there only fills the page cache with zeroed pages of clusters not yet written. On a fresh
 * image that was most of the cost of an allocating write (a 4 KiB write into a new cluster
 * paid for 128 KiB of page cache). So that part of every writable mapping is always advised
 * {@code MADV_RANDOM}; the caller's {@link AccessPattern} covers the rest.
 */
public final class MappedImageFile implements AutoCloseable {
    static final int CHUNK_SHIFT = 30;
    static final long CHUNK_BYTES = 1L << CHUNK_SHIFT;
    private static final long CHUNK_MASK = CHUNK_BYTES - 1;

    /** Table entries: aligned, little-endian, so the atomic access modes work on them. */
    private static final ValueLayout.OfLong ENTRY =
            ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle ENTRY_HANDLE = ENTRY.varHandle();
    /** Compared against to skip runs of empty table entries at memory speed. */
    private static final MemorySegment ZEROS = Arena.global().allocate(64 * 1024, 8);
    private static final VarHandle CHUNK_SLOT =
            MethodHandles.arrayElementVarHandle(MemorySegment[].class);

    private final Path path;
    private final int fd;
    private final boolean writable;
    private final StorageObserver observer; // null: no observer (every production open)
    private final Arena arena = Arena.ofShared();
    private final ReentrantLock mapLock = new ReentrantLock();
    private volatile MemorySegment[] chunks;
    private volatile long size;
    private volatile IOException failure; // the first failed fdatasync or commit step: final (see sync)
    private volatile String failedStep;   // what failed: "fdatasync" or "commit"
    // Sync tickets: a store made before syncsStarted was read is durable once a sync with a
    // later ticket has completed (see syncTicket and durableSince).
    private final java.util.concurrent.atomic.AtomicLong syncsStarted = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong syncsCompleted = new java.util.concurrent.atomic.AtomicLong();
    private int advice = Posix.MADV_NORMAL;        // under mapLock
    private long grownFrom;                         // under mapLock; see "Readahead" above
    private boolean closed;

    private boolean blockDevice; // set once, by openWith, before the file is shared

    private MappedImageFile(Path path, int fd, boolean writable, long size, StorageObserver observer) {
        this.path = path;
        this.fd = fd;
        this.writable = writable;
        this.observer = observer;
        this.size = size;
        this.grownFrom = writable ? alignUp(size) : Long.MAX_VALUE;
        this.chunks = new MemorySegment[(int) Math.max(1, (size + CHUNK_BYTES - 1) >>> CHUNK_SHIFT)];
    }

    /** Opens an existing file, read-only or read-write. */
    public static MappedImageFile open(Path path, boolean writable) throws IOException {
        return open(path, writable, null);
    }

    /**
     * Opens an existing file whose syncs and allocations {@code observer} sees (tests and
     * campaigns; null for none). The observer belongs to this file alone.
     */
    public static MappedImageFile open(Path path, boolean writable, StorageObserver observer) throws IOException {
        int flags = (writable ? Posix.O_RDWR : Posix.O_RDONLY) | Posix.O_CLOEXEC;
        return openWith(path, flags, writable, observer);
    }

    /**
     * Creates the file, or empties it if it exists (as {@code qemu-img create} does),
     * read-write. The locks are taken before anything is cut, so an image in use by QEMU is
     * refused, not destroyed.
     */
    public static MappedImageFile createEmpty(Path path) throws IOException {
        MappedImageFile file = openWith(path, Posix.O_RDWR | Posix.O_CREAT | Posix.O_CLOEXEC, true, null);
        try {
            file.lockLikeQemu();
            file.truncate(0);
            return file;
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static MappedImageFile openWith(Path path, int flags, boolean writable, StorageObserver observer)
            throws IOException {
        if (Files.isDirectory(path)) {
            // open(2) gives a directory a descriptor (read-only), and mmap then fails with
            // "No such device": say what is wrong instead.
            throw failure("open", path, Posix.EISDIR);
        }
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            MemorySegment cPath = call.allocateFrom(path.toString());
            int fd = Posix.open(capture, cPath, flags, 0644);
            if (fd < 0) {
                throw failure("open", path, Posix.errno(capture));
            }
            MemorySegment stat = call.allocate(Posix.STAT_BUFFER_BYTES, 8);
            if (Posix.fstat(capture, fd, stat) != 0) {
                int errno = Posix.errno(capture);
                Posix.close(capture, fd);
                throw failure("fstat", path, errno);
            }
            long size = stat.get(ValueLayout.JAVA_LONG, Posix.STAT_SIZE_OFFSET);
            boolean device = (stat.get(ValueLayout.JAVA_INT, Posix.STAT_MODE_OFFSET) & Posix.S_IFMT) == Posix.S_IFBLK;
            if (device) {
                // A block device (a loop device, an LV) has no length in its stat: its size
                // is where its end is. It is mapped like a file and never grows or shrinks.
                size = Posix.lseek(capture, fd, 0, Posix.SEEK_END);
                if (size < 0) {
                    int errno = Posix.errno(capture);
                    Posix.close(capture, fd);
                    throw failure("lseek", path, errno);
                }
            }
            MappedImageFile file = new MappedImageFile(path, fd, writable, size, observer);
            file.blockDevice = device;
            return file;
        }
    }

    public Path path() {
        return path;
    }

    // ---------------------------------------------------------------- locks

    /* QEMU's file driver (block/file-posix.c) publishes permissions as shared OFD byte-range
     * locks: byte 100 + i for each permission i it holds, 200 + i for each it refuses to
     * share. Bits: 0 consistent read, 1 write, 2 write unchanged, 3 resize. A writer holds
     * 0, 1, 3 and refuses to share 1 and 3; a reader holds 0 and refuses to share 1 and 3.
     * After setting its locks, each side tests whether someone else holds a conflicting
     * byte: a taken permission that another refuses to share, or a refused one another holds.
     * Two openers racing both see each other and both back out, never both get in. */
    private static final int LOCK_PERM_BASE = 100;
    private static final int LOCK_SHARED_BASE = 200;
    private static final String[] PERMISSIONS = {"consistent read", "write", "write unchanged", "resize"};

    /**
     * Takes the locks QEMU takes for this kind of open (read-write if the file is
     * writable), or throws {@link QedLockedException} naming the permission
     * another process holds or refuses to share. Closing the file releases them.
     */
    public void lockLikeQemu() throws IOException {
        int[] held = writable ? new int[]{0, 1, 3} : new int[]{0};
        int[] unshared = {1, 3};
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            MemorySegment flock = call.allocate(Posix.FLOCK);
            for (int bit : held) {
                setLock(capture, flock, LOCK_PERM_BASE + bit);
            }
            for (int bit : unshared) {
                setLock(capture, flock, LOCK_SHARED_BASE + bit);
            }
            String conflict = conflict(capture, flock, held, unshared);
            // A conflict can be a ghost of this process: OFD locks belong to the open file
            // description, and a child that another thread is spawning holds a copy of every
            // descriptor from fork until exec closes it (O_CLOEXEC), keeping the locks of an
            // image this process has just closed alive for that moment. A real holder stays;
            // a ghost is gone within milliseconds (a loaded machine may take a good part of a
            // second to run the child), so look again for up to a second before refusing.
            for (int retry = 0; conflict != null && retry < LOCK_RETRIES; retry++) {
                LockSupport.parkNanos(LOCK_RETRY_NANOS);
                conflict = conflict(capture, flock, held, unshared);
            }
            if (conflict != null) {
                throw locked(conflict);
            }
        } catch (IOException e) {
            unlockAll();
            throw e;
        }
    }

    private static final int LOCK_RETRIES = 50;
    private static final long LOCK_RETRY_NANOS = 20_000_000; // a real conflict is reported after 1 s

    /** What another holder of the file's locks conflicts with, or null when nothing does. */
    private String conflict(MemorySegment capture, MemorySegment flock, int[] held, int[] unshared)
            throws IOException {
        for (int bit : held) {
            if (lockedByOthers(capture, flock, LOCK_SHARED_BASE + bit)) {
                return "another process (or another open of it in this one) uses it and does not share the \""
                        + PERMISSIONS[bit] + "\" permission this open needs";
            }
        }
        for (int bit : unshared) {
            if (lockedByOthers(capture, flock, LOCK_PERM_BASE + bit)) {
                return "another process (or another open of it in this one) holds the \"" + PERMISSIONS[bit]
                        + "\" permission (QEMU or qedkit writing it)";
            }
        }
        return null;
    }

    private QedLockedException locked(String why) {
        return new QedLockedException(path + " is in use: " + why
                + (writable ? "" : "; a read-only open with force-share (qemu-img -U) can inspect it"));
    }

    private void setLock(MemorySegment capture, MemorySegment flock, long offset) throws IOException {
        fillFlock(flock, Posix.F_RDLCK, offset);
        if (Posix.fcntlLock(capture, fd, Posix.F_OFD_SETLK, flock) != 0) {
            throw failure("fcntl(F_OFD_SETLK)", path, Posix.errno(capture));
        }
    }

    private boolean lockedByOthers(MemorySegment capture, MemorySegment flock, long offset) throws IOException {
        fillFlock(flock, Posix.F_WRLCK, offset);
        if (Posix.fcntlLock(capture, fd, Posix.F_OFD_GETLK, flock) != 0) {
            throw failure("fcntl(F_OFD_GETLK)", path, Posix.errno(capture));
        }
        return flock.get(ValueLayout.JAVA_SHORT, Posix.FLOCK_TYPE) != Posix.F_UNLCK;
    }

    private void unlockAll() {
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            MemorySegment flock = call.allocate(Posix.FLOCK);
            fillFlock(flock, Posix.F_UNLCK, LOCK_PERM_BASE, 2L * LOCK_PERM_BASE); // bytes 100..299
            Posix.fcntlLock(capture, fd, Posix.F_OFD_SETLK, flock);
        }
    }

    private static void fillFlock(MemorySegment flock, short type, long offset) {
        fillFlock(flock, type, offset, 1L);
    }

    private static void fillFlock(MemorySegment flock, short type, long offset, long length) {
        flock.fill((byte) 0);
        flock.set(ValueLayout.JAVA_SHORT, Posix.FLOCK_TYPE, type);
        flock.set(ValueLayout.JAVA_SHORT, Posix.FLOCK_WHENCE, Posix.SEEK_SET);
        flock.set(ValueLayout.JAVA_LONG, Posix.FLOCK_START, offset);
        flock.set(ValueLayout.JAVA_LONG, Posix.FLOCK_LENGTH, length);
    }

    public boolean isWritable() {
        return writable;
    }

    /** The file's length as this process knows it; grows only through {@link #extend}. */
    public long size() {
        return size;
    }

    /** Bytes the file at {@code path} occupies on disk (st_blocks × 512). */
    public static long allocatedBytes(Path path) throws IOException {
        try (MappedImageFile f = open(path, false)) {
            return f.allocatedBytes();
        }
    }

    /** Bytes the file occupies on disk (st_blocks × 512), as {@code du} and qemu-img report it. */
    public long allocatedBytes() throws IOException {
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            MemorySegment stat = call.allocate(Posix.STAT_BUFFER_BYTES, 8);
            if (Posix.fstat(capture, fd, stat) != 0) {
                throw failure("fstat", path, Posix.errno(capture));
            }
            return stat.get(ValueLayout.JAVA_LONG, Posix.STAT_BLOCKS_OFFSET) * 512;
        }
    }

    /**
     * Where the next data at or after {@code offset} starts ({@code SEEK_DATA}), or -1 when
     * only a hole follows up to the end. File systems without hole tracking report all data.
     */
    public long seekData(long offset) throws IOException {
        return seek(offset, Posix.SEEK_DATA);
    }

    /** Where the next hole at or after {@code offset} starts ({@code SEEK_HOLE}); the end of the file counts as one. */
    public long seekHole(long offset) throws IOException {
        long hole = seek(offset, Posix.SEEK_HOLE);
        return hole < 0 ? size : hole;
    }

    /**
     * How many whole clusters of {@code clusterSize} bytes in clusters {@code [from, to)} the
     * file system reports as holes ({@code SEEK_DATA}/{@code SEEK_HOLE}): freed space that
     * costs no disk. Where the file system cannot tell, none.
     */
    public long holeClusters(long from, long to, int clusterSize) throws IOException {
        long holes = 0;
        long end = to * clusterSize;
        for (long at = from * clusterSize; at < end; ) {
            long found = seekData(at);
            long data = found < 0 ? end : Math.min(end, found); // -1: no data up to the file's end
            long firstWhole = (at + clusterSize - 1) / clusterSize;
            holes += Math.max(0, data / clusterSize - firstWhole);
            if (data >= end) {
                break;
            }
            long hole = seekHole(data);
            at = hole < 0 ? end : Math.min(end, hole);
        }
        return holes;
    }

    private long seek(long offset, int whence) throws IOException {
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            long at = Posix.lseek(capture, fd, offset, whence);
            if (at < 0) {
                int errno = Posix.errno(capture);
                if (errno == Posix.ENXIO) {
                    return -1; // at or past the end: nothing more of the kind asked for
                }
                throw failure("lseek", path, errno);
            }
            return at;
        }
    }

    /**
     * Tells the kernel how the file will be read ({@code madvise}), for every chunk mapped
     * now and later: {@link AccessPattern}. Only a hint: a kernel that refuses it
     * changes nothing but readahead, so its answer is not an error.
     */
    public void adviseAccess(AccessPattern pattern) {
        int a = switch (pattern) {
            case NORMAL -> Posix.MADV_NORMAL;
            case RANDOM -> Posix.MADV_RANDOM;
            case SEQUENTIAL -> Posix.MADV_SEQUENTIAL;
        };
        mapLock.lock();
        try {
            advice = a;
            adviseMapped(0, grownFrom, a);
        } finally {
            mapLock.unlock();
        }
    }

    /** Advises {@code [from, to)} of every chunk mapped so far (under mapLock). */
    private void adviseMapped(long from, long to, int advice) {
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            MemorySegment[] table = chunks;
            for (int i = 0; i < table.length; i++) {
                if (table[i] != null) {
                    adviseChunk(capture, i, table[i].address(), from, to, advice);
                }
            }
        }
    }

    /**
     * Advises the part of chunk {@code index} (mapped at {@code base}) that lies in
     * {@code [from, to)}. Bounds are multiples of 64 KiB, so page-aligned for every page size
     * Linux uses; a refusal changes nothing but readahead and is ignored.
     */
    private static void adviseChunk(MemorySegment capture, int index, long base, long from, long to, int advice) {
        long chunkStart = (long) index << CHUNK_SHIFT;
        long start = Math.max(from, chunkStart);
        long end = Math.min(to, chunkStart + CHUNK_BYTES);
        if (start < end) {
            Posix.madvise(capture, MemorySegment.ofAddress(base + (start - chunkStart)), end - start, advice);
        }
    }

    /** A new mapping starts with the kernel's default; anything else is said once. */
    private void adviseNewChunk(MemorySegment capture, int index, long base) {
        if (advice != Posix.MADV_NORMAL) {
            adviseChunk(capture, index, base, 0, grownFrom, advice);
        }
        adviseChunk(capture, index, base, grownFrom, Long.MAX_VALUE, Posix.MADV_RANDOM);
    }

    private static final long ADVICE_ALIGNMENT = 64 * 1024;

    private static long alignUp(long offset) {
        return (offset + ADVICE_ALIGNMENT - 1) & -ADVICE_ALIGNMENT;
    }

    /**
     * A read-only view of {@code length} bytes at {@code fileOffset}, straight into the
     * mapping (no copy), or null when the range crosses a chunk boundary. Valid until the
     * file is closed; after that, any access throws {@link IllegalStateException}.
     */
    public MemorySegment readOnlyView(long fileOffset, long length) {
        checkRange(fileOffset, length);
        if ((fileOffset >>> CHUNK_SHIFT) != ((fileOffset + length - 1) >>> CHUNK_SHIFT)) {
            return null;
        }
        return chunk(fileOffset).asSlice(fileOffset & CHUNK_MASK, length).asReadOnly();
    }

    // ---------------------------------------------------------------- faults

    /**
     * A fault on the mapping: the file became shorter than the mapping (another program
     * truncated it) or its storage failed. The kernel raises SIGBUS for the page and the JVM
     * turns that into an {@link InternalError} on the accessing thread; the accessors below
     * catch it and throw this instead. It is unchecked so that the accessors keep their
     * signatures on the hot paths; the engine's entry points unwrap it into the
     * {@link QedIoException} (EIO) it carries, and the failure is recorded, so no further
     * write or commit proceeds and NEED_CHECK stays set.
     */
    public static final class MappedFault extends java.io.UncheckedIOException {
        private static final long serialVersionUID = 1L;

        MappedFault(QedIoException cause) {
            super(cause.getMessage(), cause);
        }

        /** The EIO failure to throw to the caller of the request. */
        @Override
        public synchronized QedIoException getCause() {
            return (QedIoException) super.getCause();
        }
    }

    private static final int EIO = 5;

    /**
     * The same for a fault the JVM reported late: in compiled code it raises the InternalError
     * at the next safepoint, which may lie in a caller, outside the accessor's own catch; the
     * engine's entry points catch it there too.
     */
    public QedIoException faultOf(InternalError e, String operation) {
        return fault(e, operation).getCause();
    }

    private MappedFault fault(InternalError e, String operation) {
        QedIoException io = new QedIoException(operation + " through the mapping", path.toString(), EIO,
                "Input/output error (the file is shorter than its mapping, or its storage failed)");
        io.initCause(e);
        if (writable) { // a read-only open writes and commits nothing: there is nothing to stop
            recordFailure("access through the mapping", io);
            keepNeedCheck();
        }
        return new MappedFault(io);
    }

    private volatile boolean corruptionSeen;

    /**
     * A table entry was found corrupt (the engine refused to follow it): NEED_CHECK is set
     * in the header now, best effort, and a clean close will not clear it, so the next open
     * checks the image. Read-only opens note nothing: they change no header.
     */
    public void noteCorruption() {
        if (writable && !corruptionSeen) {
            corruptionSeen = true;
            keepNeedCheck();
        }
    }

    /** True once {@link #noteCorruption()} was called on a writable file. */
    public boolean corruptionSeen() {
        return corruptionSeen;
    }

    /** Offset of the header's features field, and its NEED_CHECK bit (the QED format's). */
    private static final long FEATURES_OFFSET = 16;
    private static final long NEED_CHECK = 0x2;

    /**
     * Best effort after a fault: sets NEED_CHECK in the header and syncs it, so the next open
     * checks an image this one may have left with tables past its end. If the header's own
     * page is gone too, there is nothing left to mark.
     */
    private void keepNeedCheck() {
        try (Arena call = Posix.scratch()) {
            MemorySegment header = chunk(0);
            long features = (long) ENTRY_HANDLE.getAcquire(header, FEATURES_OFFSET);
            if ((features & NEED_CHECK) == 0) {
                ENTRY_HANDLE.setRelease(header, FEATURES_OFFSET, features | NEED_CHECK);
                Posix.fdatasync(call.allocate(Posix.CAPTURE_LAYOUT), fd);
            }
        } catch (InternalError | RuntimeException gone) {
            // the header page is past the end as well
        }
    }

    // ---------------------------------------------------------------- entries

    /** Reads an aligned little-endian 8-byte table entry with acquire ordering. */
    public long getEntryAcquire(long fileOffset) {
        checkRange(fileOffset, Long.BYTES);
        try {
            MemorySegment chunk = chunk(fileOffset);
            return (long) ENTRY_HANDLE.getAcquire(chunk, fileOffset & CHUNK_MASK);
        } catch (InternalError e) {
            throw fault(e, "read a table entry");
        }
    }

    /** Reads an aligned little-endian 8-byte entry at {@code offset} of a view of this file, with acquire ordering. */
    long getEntryAcquire(MemorySegment view, long offset) {
        try {
            return (long) ENTRY_HANDLE.getAcquire(view, offset);
        } catch (InternalError e) {
            throw fault(e, "read a table entry");
        }
    }

    /**
     * Stores an aligned little-endian 8-byte table entry with release ordering, so a reader
     * that sees the entry also sees every store made before it (the data it points to).
     */
    public void setEntryRelease(long fileOffset, long value) {
        checkRange(fileOffset, Long.BYTES);
        try {
            MemorySegment chunk = chunk(fileOffset);
            ENTRY_HANDLE.setRelease(chunk, fileOffset & CHUNK_MASK, value);
        } catch (InternalError e) {
            throw fault(e, "write a table entry");
        }
    }

    /**
     * Offset of the first aligned 8-byte word in {@code [from, to)} that is not zero, or
     * {@code to}.
     *
     * <p>A walk must cost what is allocated, not what is addressable: with 64 MiB clusters a
     * single L2 table is 1 GiB, nearly all zeros. So a long range first asks the file system
     * where its data is ({@code SEEK_DATA}/{@code SEEK_HOLE}): holes and never-written
     * preallocated space read as zeros without a page being touched, and only the data in
     * between is compared, 8 KiB at a time. Where the file system cannot tell, everything
     * is compared.
     */
    public long skipZeroEntries(long from, long to) {
        checkRange(from, to - from);
        if (to - from >= SEEK_WORTHWHILE) {
            adviseRandom(from, to);
        }
        try {
            while (from < to) {
                long end = to;
                if (to - from >= SEEK_WORTHWHILE) {
                    long data = dataAtOrAfter(from);
                    if (data >= to) {
                        return to;
                    }
                    from = Math.max(from, data & ~7L);
                    end = Math.min(to, holeAtOrAfter(from));
                }
                long found = scanZeros(from, end);
                if (found < end) {
                    return found;
                }
                from = end;
            }
            return to;
        } catch (InternalError e) {
            throw fault(e, "read a table");
        }
    }

    /** Ranges shorter than this are compared outright: two system calls would cost more. */
    private static final long SEEK_WORTHWHILE = 1 << 20;

    /**
     * No read-around in a large table about to be walked. Tables live in {@code fallocate}d
     * space, and for such space SEEK_DATA reports as data every page that is in the page
     * cache, zeros or not. Without this, the first entry the walk touches reads 128 KiB
     * around it into the cache, SEEK_DATA then calls all of that data, the walk touches its
     * end, the kernel reads further ahead, and a walk of a mostly empty 1 GiB table reads the
     * whole of it (issue 13, bug 6). Tables are read an entry at a time anyway. A hint only:
     * a refusal changes nothing but speed.
     */
    private void adviseRandom(long from, long to) {
        long start = from & ~(ADVICE_ALIGNMENT - 1);
        long end = Math.min(alignUp(to), size);
        if (start >= end) {
            return;
        }
        for (long at = start & ~CHUNK_MASK; at < end; at += CHUNK_BYTES) {
            chunk(at); // mapped now (no page touched), so the advice has a mapping to go to
        }
        mapLock.lock();
        try {
            adviseMapped(start, end, Posix.MADV_RANDOM);
        } finally {
            mapLock.unlock();
        }
    }

    private long scanZeros(long from, long to) {
        while (from < to) {
            long inChunk = from & CHUNK_MASK;
            long n = Math.min(Math.min(to - from, CHUNK_BYTES - inChunk), ZEROS.byteSize());
            long m = MemorySegment.mismatch(chunk(from), inChunk, inChunk + n, ZEROS, 0, n);
            if (m >= 0) {
                return from + (m & ~7L);
            }
            from += n;
        }
        return to;
    }

    /** Where data starts at or after {@code offset}: {@code size} when none; {@code offset} when the file system cannot say. */
    private long dataAtOrAfter(long offset) {
        try {
            long data = seek(offset, Posix.SEEK_DATA);
            return data < 0 ? size : data;
        } catch (IOException cannotTell) {
            return offset;
        }
    }

    /** Where the data run at {@code offset} ends: the next hole, or {@code size}. */
    private long holeAtOrAfter(long offset) {
        try {
            long hole = seek(offset, Posix.SEEK_HOLE);
            return hole < 0 ? size : hole;
        } catch (IOException cannotTell) {
            return size;
        }
    }

    // ---------------------------------------------------------------- bytes

    /** Copies {@code length} bytes at {@code fileOffset} into {@code dst} at {@code dstOffset}. */
    public void copyOut(long fileOffset, MemorySegment dst, long dstOffset, long length) {
        checkRange(fileOffset, length);
        try {
            while (length > 0) {
                long inChunk = fileOffset & CHUNK_MASK;
                long n = Math.min(length, CHUNK_BYTES - inChunk);
                MemorySegment.copy(chunk(fileOffset), inChunk, dst, dstOffset, n);
                fileOffset += n;
                dstOffset += n;
                length -= n;
            }
        } catch (InternalError e) {
            throw fault(e, "read");
        }
    }

    /** Copies into a heap array without wrapping it in a segment (no allocation). */
    public void copyOut(long fileOffset, byte[] dst, int dstOffset, int length) {
        checkRange(fileOffset, length);
        try {
            while (length > 0) {
                long inChunk = fileOffset & CHUNK_MASK;
                int n = (int) Math.min(length, CHUNK_BYTES - inChunk);
                MemorySegment.copy(chunk(fileOffset), ValueLayout.JAVA_BYTE, inChunk, dst, dstOffset, n);
                fileOffset += n;
                dstOffset += n;
                length -= n;
            }
        } catch (InternalError e) {
            throw fault(e, "read");
        }
    }

    /** Copies {@code length} bytes of {@code src} from {@code srcOffset} into the file. */
    public void copyIn(MemorySegment src, long srcOffset, long fileOffset, long length) {
        checkWritableRange(fileOffset, length);
        try {
            while (length > 0) {
                long inChunk = fileOffset & CHUNK_MASK;
                long n = Math.min(length, CHUNK_BYTES - inChunk);
                MemorySegment.copy(src, srcOffset, chunk(fileOffset), inChunk, n);
                fileOffset += n;
                srcOffset += n;
                length -= n;
            }
        } catch (InternalError e) {
            throw fault(e, "write");
        }
    }

    /** Copies from a heap array without wrapping it in a segment (no allocation). */
    public void copyIn(byte[] src, int srcOffset, long fileOffset, int length) {
        checkWritableRange(fileOffset, length);
        try {
            while (length > 0) {
                long inChunk = fileOffset & CHUNK_MASK;
                int n = (int) Math.min(length, CHUNK_BYTES - inChunk);
                MemorySegment.copy(src, srcOffset, chunk(fileOffset), ValueLayout.JAVA_BYTE, inChunk, n);
                fileOffset += n;
                srcOffset += n;
                length -= n;
            }
        } catch (InternalError e) {
            throw fault(e, "write");
        }
    }

    /** Stores zeros over {@code length} bytes at {@code fileOffset}. */
    public void fillZero(long fileOffset, long length) {
        checkWritableRange(fileOffset, length);
        try {
            while (length > 0) {
                long inChunk = fileOffset & CHUNK_MASK;
                long n = Math.min(length, CHUNK_BYTES - inChunk);
                chunk(fileOffset).asSlice(inChunk, n).fill((byte) 0);
                fileOffset += n;
                length -= n;
            }
        } catch (InternalError e) {
            throw fault(e, "write");
        }
    }

    /**
     * Writes zeros over {@code [fileOffset, fileOffset + length)} with {@code pwrite}: into
     * the page cache, past this process's mappings. For space the file system holds
     * unwritten that should be written once before its data comes (ClusterAllocator, "First
     * blocks written ahead"): a store through the mapping would map each page into this
     * process twice, a fault to read in its zeros now and, after the sync that writes it
     * back has write-protected it (a TLB shootdown on every CPU running this process), a
     * second fault when the data is stored; through the page cache, only the data's store
     * maps it. Durable zero writes come here too ({@link #pwrite}). The range must lie inside
     * the file. Returns false, having written all, part or none of it, when the call failed
     * (the caller stores the zeros instead).
     */
    public boolean pwriteZeros(long fileOffset, long length) {
        checkWritableRange(fileOffset, length);
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            while (length > 0) {
                long n = Math.min(length, ZEROS.byteSize());
                if (!pwriteAll(capture, ZEROS, 0, fileOffset, n)) {
                    return false;
                }
                fileOffset += n;
                length -= n;
            }
            return true;
        }
    }

    /**
     * Writes {@code length} bytes of {@code src} from {@code srcOffset} into the file at
     * {@code fileOffset} with {@code pwrite}: into the page cache, past this process's
     * mappings. For the data of durable writes and overwrites (WritePlanner, "Data through the
     * page cache"): the page cache marks dirty only the blocks a {@code pwrite} covers, where
     * a store through a mapping marks the whole folio it lands in (up to 2 MiB of a file that
     * was written or read ahead in large folios), and the next sync writes back what is
     * marked; nor does it map the pages, so that sync has nothing to write-protect. Bytes on
     * the heap, which a system call cannot read, are copied through a native buffer of at
     * most {@link #HEAP_BOUNCE_BYTES} first (for a write that then waits for a sync, the copy
     * is small change; for a write-back overwrite from the heap it is a second copy of its
     * bytes). The range must lie inside the file. Returns false, having written
     * all, part or none of it, when the call failed; the caller then stores the bytes
     * through the mapping.
     */
    public boolean pwrite(MemorySegment src, long srcOffset, long fileOffset, long length) {
        checkWritableRange(fileOffset, length);
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            if (src.isNative()) {
                return pwriteAll(capture, src, srcOffset, fileOffset, length);
            }
            MemorySegment bounce = call.allocate(Math.min(length, HEAP_BOUNCE_BYTES), 8);
            while (length > 0) {
                long n = Math.min(length, bounce.byteSize());
                MemorySegment.copy(src, srcOffset, bounce, 0, n);
                if (!pwriteAll(capture, bounce, 0, fileOffset, n)) {
                    return false;
                }
                srcOffset += n;
                fileOffset += n;
                length -= n;
            }
            return true;
        }
    }

    /** The most of a heap source {@link #pwrite} copies into native memory at a time. */
    static final long HEAP_BOUNCE_BYTES = 256 << 10;

    /**
     * The system call takes {@code src}'s address, not the segment: the fence keeps the
     * segment reachable until the calls are over, so that an automatic arena's memory cannot
     * be freed under the kernel's copy (a closed arena is the caller's error, as for any use
     * of a segment while another thread closes it).
     */
    private boolean pwriteAll(MemorySegment capture, MemorySegment src, long srcOffset, long fileOffset, long length) {
        try {
            while (length > 0) {
                long n = Posix.pwrite(capture, fd, src.asSlice(srcOffset, length), length, fileOffset);
                if (n < 0 && Posix.errno(capture) == Posix.EINTR) {
                    continue;
                }
                if (n <= 0) {
                    return false;
                }
                fileOffset += n;
                srcOffset += n;
                length -= n;
            }
            return true;
        } finally {
            java.lang.ref.Reference.reachabilityFence(src);
        }
    }

    // ---------------------------------------------------------------- file changes

    /**
     * Grows the file to {@code newSize} with {@code fallocate}, so the new range is backed by
     * real, zeroed blocks before any page of it is touched. A full disk fails here with
     * {@link QedIoException#isNoSpace()} and leaves the file as it was.
     */
    public void extend(long newSize) throws IOException {
        requireWritable("extend");
        long old = size;
        if (newSize <= old) {
            return;
        }
        if (blockDevice) {
            throw failure("extend", path, Posix.ENOSPC); // a device ends where it ends
        }
        if (observer != null) {
            int injected = observer.beforeExtend(path, newSize);
            if (injected != StorageObserver.PROCEED) {
                throw failure("fallocate", path, injected);
            }
        }
        int errno = fallocate(0, old, newSize - old);
        if (errno == Posix.EOPNOTSUPP) {
            // File systems without fallocate: glibc writes zeros instead.
            errno = Posix.posixFallocate(fd, old, newSize - old);
            if (errno != 0) {
                throw failure("posix_fallocate", path, errno);
            }
        } else if (errno != 0) {
            throw failure("fallocate", path, errno);
        }
        size = newSize;
    }

    /**
     * Cuts a partial cluster off the end of the file: it can hold nothing an entry may
     * reference (entries must lie wholly inside the file), and without it new clusters start
     * aligned. Returns true when something was cut.
     */
    public boolean cutPartialCluster(int clusterSize) throws IOException {
        long tail = size % clusterSize;
        if (tail == 0) {
            return false;
        }
        truncate(size - tail);
        return true;
    }

    /** Cuts the file to {@code newSize}. Callers make sure nothing past it is referenced. */
    public void truncate(long newSize) throws IOException {
        requireWritable("truncate");
        if (blockDevice) {
            return; // a device keeps its size; what lies past the image's end is unused space
        }
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            // Shrink what this process may touch before the pages go away.
            long old = size;
            size = Math.min(old, newSize);
            if (Posix.ftruncate(capture, fd, newSize) != 0) {
                size = old;
                throw failure("ftruncate", path, Posix.errno(capture));
            }
            size = newSize;
        }
        regrowFrom(newSize);
    }

    /** After a cut, what lies past the new end will again be space this process reserves. */
    private void regrowFrom(long newSize) {
        mapLock.lock();
        try {
            long from = alignUp(newSize);
            if (from < grownFrom) {
                adviseMapped(from, grownFrom, Posix.MADV_RANDOM);
                grownFrom = from;
            }
        } finally {
            mapLock.unlock();
        }
    }

    /**
     * Takes the pages of {@code pages} out of this process's page tables
     * ({@code MADV_DONTNEED}) ahead of a sync. The page cache keeps them, dirty or not (a
     * dirty bit in a page table entry moves to the page as the entry goes), and the next
     * access maps them again; so nothing changes but where the next fault happens.
     *
     * <p>Why: before it writes a dirty page of a shared mapping back, {@code fdatasync}
     * write-protects every mapping of it, one page at a time, and each page's TLB flush
     * interrupts every other CPU running one of this process's threads and waits for it. On a
     * small virtual machine that is tens of microseconds a page, spent inside the sync while
     * the disk waits for its first request. Dropping a round's pages first costs one flush
     * for all of them, and the sync finds nothing mapped to write-protect (docs/design.md,
     * "Pages dropped before a sync"). All ranges go in one {@code process_madvise} call
     * where the kernel takes {@link Posix#PIDFD_SELF} for it (6.15 does), one {@code madvise}
     * per range where it does not. A hint only: a refusal leaves the pages mapped, and the
     * sync writes them as it always did.
     */
    void dropFromPageTables(StoredPages pages) {
        int n = pages.count();
        if (n == 0 || !writable) {
            return;
        }
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            if (processMadviseWorks) {
                int capacity = Math.min(n, MAX_IOVECS); // a range split at a chunk's end sends a call early
                MemorySegment iovecs = call.allocate(IOVEC_BYTES * capacity, 8);
                int[] filled = {0};
                forEachMappedPiece(pages, (address, length) -> {
                    iovecs.set(ValueLayout.JAVA_LONG, filled[0] * IOVEC_BYTES, address);
                    iovecs.set(ValueLayout.JAVA_LONG, filled[0] * IOVEC_BYTES + 8, length);
                    if (++filled[0] == capacity) {
                        adviseDontNeed(capture, iovecs, filled[0]);
                        filled[0] = 0;
                    }
                });
                if (filled[0] > 0) {
                    adviseDontNeed(capture, iovecs, filled[0]);
                }
                if (processMadviseWorks) {
                    return;
                }
            }
            forEachMappedPiece(pages, (address, length) ->
                    Posix.madvise(capture, MemorySegment.ofAddress(address), length, Posix.MADV_DONTNEED));
        }
    }

    /** A piece of a page range inside one mapped chunk: its address in this process, and its length. */
    @FunctionalInterface
    private interface MappedPiece {
        void accept(long address, long length);
    }

    /** Each range of {@code pages} split at chunk ends, pieces in chunks not mapped left out (nothing there to drop). */
    private void forEachMappedPiece(StoredPages pages, MappedPiece action) {
        MemorySegment[] table = chunks;
        for (int i = 0; i < pages.count(); i++) {
            for (long at = pages.start(i), end = pages.end(i); at < end; ) {
                long stop = Math.min(end, (at & ~CHUNK_MASK) + CHUNK_BYTES);
                MemorySegment chunk = mappedChunk(table, at);
                if (chunk != null) {
                    action.accept(chunk.address() + (at & CHUNK_MASK), stop - at);
                }
                at = stop;
            }
        }
    }

    /** The chunk holding {@code fileOffset} if it is mapped, or null; maps nothing. */
    private static MemorySegment mappedChunk(MemorySegment[] table, long fileOffset) {
        int index = (int) (fileOffset >>> CHUNK_SHIFT);
        return index < table.length ? (MemorySegment) CHUNK_SLOT.getAcquire(table, index) : null;
    }

    /** One process_madvise call; on a kernel that refuses it for this process, the fallback from then on. */
    private void adviseDontNeed(MemorySegment capture, MemorySegment iovecs, int count) {
        if (processMadviseWorks && Posix.processMadvise(capture, iovecs, count, Posix.MADV_DONTNEED) < 0) {
            int errno = Posix.errno(capture);
            if (errno == Posix.EBADF || errno == Posix.EINVAL || errno == Posix.ENOSYS || errno == Posix.EPERM) {
                processMadviseWorks = false; // the caller advises each range on its own instead
            }
        }
    }

    /** {@code struct iovec}: a pointer and a length, 16 bytes on both 64-bit machines. */
    private static final long IOVEC_BYTES = 16;
    /** The kernel's limit on iovecs per call (UIO_MAXIOV). */
    private static final int MAX_IOVECS = 1024;
    /**
     * False once the kernel refused process_madvise for this process (an older kernel). Per
     * file, not per JVM: a refusal costs one failed call per file, and no image's state
     * reaches another's (docs/design.md, "JVM-wide state").
     */
    private volatile boolean processMadviseWorks = true;

    /** Tests: whether {@link #dropFromPageTables} tries process_madvise (true) or goes range by range. */
    void useProcessMadvise(boolean use) {
        processMadviseWorks = use;
    }

    /** Tests: false once the kernel refused process_madvise (or a test said not to use it). */
    boolean usesProcessMadvise() {
        return processMadviseWorks;
    }

    /**
     * {@code fdatasync}: every store made through the mappings and every size change so far
     * is on stable storage when this returns. A failure is final for the data it covered:
     * Linux forgets a write-back error once reported, so a second fdatasync would succeed
     * as if the data were safe. Once one failed, every later call throws without asking
     * the kernel, whoever makes it (a commit, the header's NEED_CHECK, a flush).
     */
    public void sync() throws IOException {
        if (!writable) {
            return;
        }
        throwIfFailed();
        if (observer != null) {
            int injected = observer.beforeSync(path);
            if (injected != StorageObserver.PROCEED) {
                throw recordFailure("fdatasync", failure("fdatasync", path, injected));
            }
        }
        long ticket = syncsStarted.incrementAndGet(); // before the call: it covers every store made before this
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            int rc;
            do {
                rc = Posix.fdatasync(capture, fd);
            } while (rc != 0 && Posix.errno(capture) == Posix.EINTR);
            if (rc != 0) {
                throw recordFailure("fdatasync", failure("fdatasync", path, Posix.errno(capture)));
            }
        }
        syncsCompleted.accumulateAndGet(ticket, Math::max);
    }

    /**
     * A ticket for "everything stored so far": read it after the stores, and once
     * {@link #durableSince} says so for it, a sync that began after them has completed.
     */
    public long syncTicket() {
        // A full fence first. The caller's stores (a discard's cleared entries, say) must be
        // visible to every CPU before the ticket is read: a sync with a later ticket counts
        // as covering them. Without the fence this load may be satisfied while the stores
        // still wait in this CPU's store buffer (the one reordering x86 allows; the JMM
        // allows more after a release store), and a sync started on another thread in
        // between would count for stores it may not have seen.
        VarHandle.fullFence();
        return syncsStarted.get();
    }

    /** True when the image is a block device, not a file: it has a fixed size and no holes. */
    public boolean isBlockDevice() {
        return blockDevice;
    }

    /** True when a sync that began after {@code ticket} was taken has completed successfully. */
    public boolean durableSince(long ticket) {
        return syncsCompleted.get() > ticket;
    }

    /**
     * Gives the blocks of {@code length} bytes at {@code fileOffset} back to the file system
     * ({@code fallocate(PUNCH_HOLE | KEEP_SIZE)}): the range reads as zeros and costs no disk.
     * Where the file system cannot punch holes (EOPNOTSUPP, or a block device), the range is
     * zeroed in place instead and stays allocated. Returns true when a hole was punched.
     * Callers make sure nothing reads or writes the range meanwhile.
     */
    public boolean punchHole(long fileOffset, long length) throws IOException {
        checkWritableRange(fileOffset, length);
        int errno = observer == null ? StorageObserver.PROCEED : observer.beforePunch(path, fileOffset, length);
        if (errno == StorageObserver.PROCEED && !blockDevice) {
            errno = fallocate(Posix.FALLOC_FL_PUNCH_HOLE | Posix.FALLOC_FL_KEEP_SIZE, fileOffset, length);
            if (errno == 0) {
                return true;
            }
        }
        if (errno != Posix.EOPNOTSUPP && !blockDevice) {
            throw failure("fallocate(PUNCH_HOLE)", path, errno);
        }
        fillZero(fileOffset, length); // no holes here: the space stays, zeroed
        return false;
    }

    /**
     * Makes sure {@code length} bytes at {@code fileOffset}, inside the file, are backed by
     * real blocks before a page of them is touched ({@code fallocate} without changing the
     * length): space that was punched earlier must be reserved again, or a store into it on
     * a full disk would raise SIGBUS. A full disk fails here with
     * {@link QedIoException#isNoSpace()}.
     */
    public void reserve(long fileOffset, long length) throws IOException {
        checkWritableRange(fileOffset, length);
        if (blockDevice) {
            return; // a device's blocks are always there
        }
        if (observer != null) {
            int injected = observer.beforeReserve(path, fileOffset, length);
            if (injected != StorageObserver.PROCEED) {
                throw failure("fallocate", path, injected);
            }
        }
        int errno = fallocate(Posix.FALLOC_FL_KEEP_SIZE, fileOffset, length);
        if (errno != 0 && errno != Posix.EOPNOTSUPP) {
            throw failure("fallocate", path, errno);
        }
        // EOPNOTSUPP: such a file system cannot punch either, so the range was never given back.
    }

    /** {@code fallocate(fd, mode, offset, length)}, retried on EINTR; returns 0 or the errno. */
    private int fallocate(int mode, long offset, long length) {
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            int rc;
            do {
                rc = Posix.fallocate(capture, fd, mode, offset, length);
            } while (rc != 0 && Posix.errno(capture) == Posix.EINTR);
            return rc == 0 ? 0 : Posix.errno(capture);
        }
    }

    /**
     * Records {@code cause} as this file's failure, unless one is recorded already: the one
     * place the rule "a failed sync is final" lives. From then on {@link #sync} and
     * {@link #throwIfFailed} throw without asking the kernel. Returns {@code cause}.
     */
    public IOException recordFailure(IOException cause) {
        return recordFailure("commit", cause);
    }

    /** {@link #recordFailure(IOException)} for anything a commit step threw, wrapped when it is no IOException. */
    public IOException recordFailure(Throwable cause) {
        return recordFailure(cause instanceof IOException io ? io : new IOException(cause));
    }

    private IOException recordFailure(String step, IOException cause) {
        synchronized (this) {
            if (failure == null) {
                failedStep = step; // first: a reader that sees the failure sees its step
                failure = cause;
            }
        }
        return cause;
    }

    /** True once a sync of this file (or a commit step on it) failed: every later sync fails too. */
    public boolean hasFailed() {
        return failure != null;
    }

    /** Throws the recorded failure, in words that say what it means for the caller, if there is one. */
    public void throwIfFailed() throws QedException {
        IOException failed = failure;
        if (failed != null) {
            throw new QedException(path + ": an earlier " + failedStep + " failed ("
                    + failed.getMessage() + "), so nothing written since can be made durable;"
                    + " reopen the image (it will be checked)", failed);
        }
    }

    @Override
    public void close() throws IOException {
        mapLock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            mapLock.unlock();
        }
        arena.close(); // unmaps every chunk (see the cleanup in mapChunk)
        try (Arena call = Posix.scratch()) {
            MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
            if (Posix.close(capture, fd) != 0) {
                throw failure("close", path, Posix.errno(capture));
            }
        }
    }

    // ---------------------------------------------------------------- internals

    private void checkRange(long fileOffset, long length) {
        if (fileOffset < 0 || length < 0 || fileOffset > size - length) {
            throw new IllegalStateException("access at " + fileOffset + " of " + length
                    + " bytes lies outside " + path + " (" + size + " bytes)");
        }
    }

    private void checkWritableRange(long fileOffset, long length) {
        if (!writable) {
            throw new IllegalStateException(path + " is mapped read-only");
        }
        checkRange(fileOffset, length);
    }

    private void requireWritable(String operation) {
        if (!writable) {
            throw new IllegalStateException(operation + " on read-only " + path);
        }
    }

    private MemorySegment chunk(long fileOffset) {
        MemorySegment chunk = mappedChunk(chunks, fileOffset);
        return chunk != null ? chunk : mapChunk((int) (fileOffset >>> CHUNK_SHIFT));
    }

    @SuppressWarnings("restricted") // gives the raw mmap address its size and its arena
    private MemorySegment mapChunk(int index) {
        mapLock.lock();
        try {
            if (closed) {
                throw new IllegalStateException(path + " is closed");
            }
            MemorySegment[] table = chunks;
            if (index >= table.length) {
                MemorySegment[] grown = new MemorySegment[Math.max(index + 1, table.length * 2)];
                System.arraycopy(table, 0, grown, 0, table.length);
                chunks = table = grown;
            }
            MemorySegment existing = table[index];
            if (existing != null) {
                return existing;
            }
            int prot = writable ? Posix.PROT_READ | Posix.PROT_WRITE : Posix.PROT_READ;
            MemorySegment chunk;
            try (Arena call = Posix.scratch()) {
                MemorySegment capture = call.allocate(Posix.CAPTURE_LAYOUT);
                MemorySegment address = Posix.mmap(capture, CHUNK_BYTES, prot, fd,
                        (long) index << CHUNK_SHIFT);
                if (address.address() == -1L) {
                    int errno = Posix.errno(capture);
                    throw new IllegalStateException("mmap of " + path + " failed: "
                            + Posix.describe(errno) + " (errno " + errno + ")");
                }
                long base = address.address();
                adviseNewChunk(capture, index, base);
                chunk = address.reinterpret(CHUNK_BYTES, arena, segment -> unmap(base));
            }
            if (!writable) {
                chunk = chunk.asReadOnly();
            }
            CHUNK_SLOT.setRelease(table, index, chunk);
            return chunk;
        } finally {
            mapLock.unlock();
        }
    }

    private static void unmap(long base) {
        try (Arena call = Posix.scratch()) {
            Posix.munmap(call.allocate(Posix.CAPTURE_LAYOUT), MemorySegment.ofAddress(base), CHUNK_BYTES);
        }
    }

    /** {@return the C library's text for {@code errno}, e.g. "No space left on device"} */
    public static String describeErrno(int errno) {
        return Posix.describe(errno);
    }

    static QedIoException failure(String operation, Path path, int errno) {
        return QedIoException.of(operation, path.toString(), errno);
    }
}
