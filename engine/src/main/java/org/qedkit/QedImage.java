package org.qedkit;

import org.qedkit.internal.BackingChain;
import org.qedkit.internal.BackingFile;
import org.qedkit.internal.Cleanup;
import org.qedkit.internal.CommitPipeline;
import org.qedkit.internal.CommitPipeline.Request;
import org.qedkit.internal.Discarder;
import org.qedkit.internal.EngineAccess;
import org.qedkit.internal.FreeSpaceScan;
import org.qedkit.internal.Geometry;
import org.qedkit.internal.GuestReader;
import org.qedkit.internal.ImageOpener;
import org.qedkit.internal.MappedImageFile;
import org.qedkit.internal.OfflineImages;
import org.qedkit.internal.OpenedImage;
import org.qedkit.internal.SpaceReclaimer;
import org.qedkit.internal.WritePlanner;
import org.qedkit.internal.hooks.OpenContext;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An open QED image: guest-visible bytes that can be read, written and zeroed at any offset and
 * length, backed by a memory-mapped image file.
 *
 * <pre>{@code
 * QedImage.create(path, CreateOptions.ofSize(1L << 30));
 * try (QedImage image = QedImage.open(path, OpenOptions.READ_WRITE)) {
 *     image.write(0, "hello".getBytes(StandardCharsets.US_ASCII));
 *     image.flush();
 * }
 * }</pre>
 *
 * <h2>Threads</h2>
 * All methods may be called from any number of threads. Reads take no lock and allocate nothing for
 * {@code byte[]} and {@code MemorySegment} buffers: they walk the mapped tables and copy once from
 * the mapped cluster. Writes to clusters that exist go straight into the file, without a lock (with
 * {@code pwrite}, which marks dirty only the blocks they cover); writes that need
 * new clusters plan under a short lock and are committed in batches, in the order data, L2 entries,
 * L1 entries, each step one {@code fdatasync} for the whole batch.
 *
 * <h2>Durability</h2>
 * With {@link Durability#WRITE_BACK} (the default) a write returns when its data is visible to
 * every reader of this process, and {@link #flush()} makes every write that returned before it
 * durable; with {@link Durability#WRITE_THROUGH} (for the image, or for one write) it returns
 * durable. A crash at any moment leaves a consistent image in which nothing points at data that was
 * not yet durable: leaked clusters at worst, which the next read-write open reclaims because
 * NEED_CHECK says so.
 *
 * <h2>Close</h2>
 * Every write that returned before {@link #close()} began is committed by it. A write or flush
 * racing close either completes or fails with an {@link IllegalStateException}; it never hangs, and
 * never reports success and then vanishes.
 *
 * <h2>Sharing</h2>
 * Opens take the byte-range locks QEMU takes, so QEMU and qedkit never write one image at once; a
 * conflict is a {@link QedLockedException}.
 *
 * <p>This class does I/O only; opening and recovery, the backing chain, the write path's decisions
 * and the commit steps live in rooms of their own (docs/design.md has the map).
 */
public final class QedImage implements AutoCloseable {
    static {
        EngineAccess.setImageFactory(QedImage::new);
    }

    private final MappedImageFile file;
    private final Geometry geometry;
    private final CommitPipeline pipeline; // null when read-only
    private final WritePlanner planner;    // null when read-only
    private final Discarder discarder;     // null when read-only
    private final SpaceReclaimer reclaimer; // null when read-only
    private final QedHeader headerAtOpen;
    private final CheckResult checkAtOpen;
    private final BackingFile backing;     // null without a backing file
    private final GuestReader reader;
    private final Durability durability;
    private final AtomicBoolean closed = new AtomicBoolean();

    private QedImage(OpenedImage parts) {
        this.file = parts.file();
        this.geometry = parts.map().geometry();
        this.pipeline = parts.pipeline();
        this.planner = parts.planner();
        this.discarder = parts.discarder();
        this.reclaimer = parts.reclaimer();
        this.headerAtOpen = parts.header();
        this.checkAtOpen = parts.checkAtOpen();
        this.backing = parts.backing();
        this.reader = new GuestReader(parts);
        this.durability = parts.options().durability();
    }

    /**
     * {@return the existing image at {@code path}, opened read-write}
     *
     * @param path the image file
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public static QedImage open(Path path) throws IOException {
        return open(path, OpenOptions.READ_WRITE);
    }

    /**
     * Opens an existing image, its header validated against every rule of the format. A read-write
     * open clears unknown auto-clear bits and repairs an image left with NEED_CHECK.
     *
     * @param path the image file
     * @param options how to open it: read-only or read-write, durability, limits, backing policy
     * @return the open image; close it when done
     * @throws QedFormatException when the header breaks a rule
     * @throws QedIoException    when the file cannot be opened or mapped
     */
    public static QedImage open(Path path, OpenOptions options) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        return ImageOpener.open(path, options, OpenContext.DEFAULT);
    }

    /**
     * Creates an empty image, replacing any file there, laid out as {@code qemu-img create -f qed}
     * does.
     *
     * @param path the image file
     * @param options size and layout of the new image, and its backing file
     * @throws QedFormatException when an option breaks a rule of the format (nothing is touched then)
     */
    public static void create(Path path, CreateOptions options) throws IOException {
        OfflineImages.create(path, options);
    }

    /**
     * Checks a closed image against every invariant of the format and repairs it as {@code mode}
     * says, taking QEMU's locks. A repair that leaves no corruption also clears NEED_CHECK.
     *
     * @param path the image file
     * @param mode what to repair: nothing, leaks, or everything that can be
     * @return what the check found and repaired, with qemu-img's counts
     * @throws QedFormatException when the header itself is invalid (nothing to check against)
     */
    public static CheckResult check(Path path, CheckMode mode) throws IOException {
        return check(path, mode, LockPolicy.LOCK, Limits.DEFAULT);
    }

    /**
     * As {@link #check(Path, CheckMode)}: {@link LockPolicy#FORCE_SHARE} inspects an image in use
     * (report only, as {@code qemu-img check -U}); an image past {@code limits} is refused with a
     * {@link QedLimitException} before anything is written.
     *
     * @param path the image file
     * @param mode what to repair: nothing, leaks, or everything that can be
     * @param locking whether QEMU's locks are taken ({@link LockPolicy#FORCE_SHARE}: report only)
     * @param limits bounds for an untrusted image
     * @return what the check found and repaired, with qemu-img's counts
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public static CheckResult check(Path path, CheckMode mode, LockPolicy locking, Limits limits) throws IOException {
        return OfflineImages.check(path, mode, locking, limits);
    }

    /**
     * Changes the guest size of a closed image (a multiple of 512). Growing rewrites the header;
     * shrinking (QEMU cannot, for QED) drops the entries past the end and frees their clusters,
     * cutting data only with {@link DataPastEnd#DISCARD}.
     *
     * @param path the image file
     * @param newSize the new guest size in bytes, a multiple of 512
     * @param dataPastEnd what shrinking may do with data past the new end
     * @throws QedFormatException when {@code newSize} is not a size the image can have
     * @throws QedException       when shrinking would drop data and that is refused
     */
    public static void resize(Path path, long newSize, DataPastEnd dataPastEnd) throws IOException {
        OfflineImages.resize(path, newSize, dataPastEnd);
    }

    /**
     * Names another backing file in a closed image's header (none when {@code name} is null),
     * copying nothing: {@code qemu-img rebase -u}. Crash-safe (the name is durable first).
     *
     * @param path the image file
     * @param name the backing file's name as the header is to hold it, or null for none
     * @param format the backing file's format
     * @throws QedFormatException when the name does not fit in the header area beside the old one
     */
    public static void setBackingFile(Path path, String name, BackingFormat format) throws IOException {
        OfflineImages.setBackingFile(path, name, format);
    }

    /**
     * Empties a closed image: every cluster is freed, so it reads through its backing file again.
     *
     * @param path the image file
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public static void makeEmpty(Path path) throws IOException {
        OfflineImages.makeEmpty(path);
    }

    /** {@return the header as it stands now (NEED_CHECK comes and goes as writes come and go)} */
    public QedHeader header() {
        return pipeline != null ? pipeline.currentHeader() : headerAtOpen;
    }

    /** {@return the check open ran because NEED_CHECK was set (a repair if read-write, in memory if read-only)} */
    public Optional<CheckResult> checkAtOpen() {
        return Optional.ofNullable(checkAtOpen);
    }

    /** {@return when writes to this image count as done} */
    public Durability durability() {
        return durability;
    }

    /** {@return the guest-visible size in bytes} */
    public long size() {
        return geometry.imageSize();
    }

    /** {@return whether the image was opened read-only} */
    public boolean isReadOnly() {
        return pipeline == null;
    }

    /** {@return the image file's path, as it was opened} */
    public Path path() {
        return file.path();
    }

    /**
     * {@return bytes the image file occupies on disk, as {@code du} (and qemu-img's actual-size) count them}
     *
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public long actualSize() throws IOException {
        ensureOpen();
        return file.allocatedBytes();
    }

    /** {@return the image file's length in bytes} */
    public long fileLength() {
        return file.size();
    }

    /** {@return copy-on-read copies not made (full disk, failed commit); those reads still succeeded} */
    public long copyOnReadFailures() {
        return planner == null ? 0 : planner.copyOnReadFailures();
    }

    /**
     * {@return the run from {@code offset} with one allocation state in this image (data runs: contiguous in the file)}
     *
     * @param offset guest offset in bytes
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public Extent extentAt(long offset) throws IOException {
        return extentAt(offset, Long.MAX_VALUE);
    }

    /**
     * The run from {@code offset} with one allocation state in this image, at most
     * {@code maxLength} bytes long. The cost is that of the bytes looked at: a server that
     * needs the state of one request's range asks for that range, and a run that goes on
     * through the whole image is not walked to its end.
     *
     * @param offset    guest offset in bytes
     * @param maxLength the most bytes the run may cover (at least one byte is covered)
     * @return the run from {@code offset}, no longer than {@code maxLength}
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public Extent extentAt(long offset, long maxLength) throws IOException {
        ensureOpen();
        if (offset < 0 || offset >= size()) {
            throw new QedRangeException(offset, 0, size());
        }
        return reader.extentAt(offset, Math.min(maxLength, size() - offset));
    }

    /**
     * The run of guest bytes from {@code offset} that has one state through the whole backing chain
     * (which image holds it, data or zeros, where in its file), as {@code qemu-img map} reports it.
     * Runs are at most as long as one state in one image lasts; callers merge neighbours that
     * continue each other, as qemu-img does.
     *
     * @param offset guest offset in bytes
     * @return the run from {@code offset}
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public MapEntry mapEntryAt(long offset) throws IOException {
        return mapEntryAt(offset, Long.MAX_VALUE);
    }

    /**
     * {@link #mapEntryAt(long)}, at most {@code maxLength} bytes long, at the cost of those
     * bytes (see {@link #extentAt(long, long)}).
     *
     * @param offset    guest offset in bytes
     * @param maxLength the most bytes the run may cover (at least one byte is covered)
     * @return the run from {@code offset}, no longer than {@code maxLength}
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public MapEntry mapEntryAt(long offset, long maxLength) throws IOException {
        return BackingChain.mapEntryAt(extentAt(offset, maxLength), backing);
    }

    /**
     * Fills {@code dst} with the guest bytes at {@code offset}.
     *
     * @param offset guest offset in bytes
     * @param dst where the bytes go
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void read(long offset, MemorySegment dst) throws IOException {
        ensureOpen();
        checkRange(offset, dst.byteSize());
        reader.read(offset, dst);
    }

    /**
     * Reads {@code length} guest bytes at {@code offset} into {@code dst} at {@code dstOffset}.
     *
     * @param offset guest offset in bytes
     * @param dst where the bytes go
     * @param dstOffset where in {@code dst} they start
     * @param length number of bytes
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void read(long offset, byte[] dst, int dstOffset, int length) throws IOException {
        ensureOpen();
        Objects.checkFromIndexSize(dstOffset, length, dst.length);
        checkRange(offset, length);
        reader.read(offset, dst, dstOffset, length);
    }

    /**
     * Fills {@code dst} completely with the guest bytes at {@code offset}.
     *
     * @param offset guest offset in bytes
     * @param dst where the bytes go
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void read(long offset, byte[] dst) throws IOException {
        read(offset, dst, 0, dst.length);
    }

    /**
     * Reads {@code dst.remaining()} guest bytes at {@code offset}; advances the buffer's position.
     *
     * @param offset guest offset in bytes
     * @param dst where the bytes go
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void read(long offset, ByteBuffer dst) throws IOException {
        int n = dst.remaining();
        read(offset, MemorySegment.ofBuffer(dst));
        dst.position(dst.position() + n);
    }

    /**
     * The {@code length} guest bytes at {@code offset} as a read-only view straight into the
     * image's mapping, without copying, when they lie inside one data cluster of this image; empty
     * otherwise (unallocated or zero clusters, bytes from the backing file, a range across
     * clusters), and the caller reads them with {@link #read} instead.
     *
     * <p>The view is live: a later write to those guest bytes shows through it. It is valid until
     * the image is closed; after that, any access to it throws {@link IllegalStateException} (never
     * a crash). It shows the cluster, not the guest offset: once the bytes are discarded, the
     * cluster may be punched (the view reads zeros) or reused for other guest bytes (the view
     * shows those). A caller that discards must not keep views of what it discards.
     *
     * @param offset guest offset in bytes
     * @param length number of bytes
     * @return the view, or empty when the bytes are not in one data cluster of this image
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public Optional<MemorySegment> view(long offset, long length) throws IOException {
        ensureOpen();
        checkRange(offset, length);
        long inCluster = geometry.inCluster(offset);
        if (length == 0 || inCluster + length > geometry.clusterSize()) {
            return Optional.empty();
        }
        long entry = reader.dataClusterAt(offset);
        if (entry == 0) {
            return Optional.empty();
        }
        return Optional.ofNullable(file.readOnlyView(entry + inCluster, length));
    }

    /**
     * Writes all of {@code src} at guest {@code offset}. Returns when the data is visible to every
     * reader of this process; with {@link Durability#WRITE_THROUGH}, when it is durable.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void write(long offset, MemorySegment src) throws IOException {
        write(offset, src, durability);
    }

    /**
     * Writes all of {@code src} at guest {@code offset} with the durability given for this write
     * alone: {@link Durability#WRITE_THROUGH} on a write-back image is a FUA (force unit access)
     * write, durable when it returns, data and table entries alike.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @param writeDurability when this write counts as done
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void write(long offset, MemorySegment src, Durability writeDurability) throws IOException {
        Objects.requireNonNull(writeDurability, "writeDurability");
        pipeline.awaitDurable(place(offset, src.byteSize(), src, Change.DATA, awaited(writeDurability), "write")); // ticket 0: at once
    }

    /**
     * Writes all of {@code src} at guest {@code offset} without waiting for the disk: the data is
     * in place (visible to every reader) when this returns, and the future completes when the write
     * is done as {@code writeDurability} says. One thread can so keep many durable writes in
     * flight, sharing their syncs. Errors (range, read-only, a full disk, closed) complete it
     * exceptionally too; completion runs on the thread that made the sync (the commit thread,
     * or another caller waiting for its own write), so dependents should be short.
     * {@code src} may be reused as soon as this returns.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @param writeDurability when this write counts as done
     * @return a future completed when the write is done as {@code writeDurability} says
     */
    public CompletableFuture<Void> writeAsync(long offset, MemorySegment src, Durability writeDurability) {
        Objects.requireNonNull(writeDurability, "writeDurability");
        try {
            long ticket = place(offset, src.byteSize(), src, Change.DATA,
                    writeDurability == Durability.WRITE_THROUGH ? Request.SYNC : Request.QUEUE, "write");
            return ticket == 0 ? CompletableFuture.completedFuture(null) : pipeline.whenDurable(ticket);
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Writes {@code length} bytes of {@code src} from {@code srcOffset} at guest {@code offset}.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @param srcOffset where in {@code src} they start
     * @param length number of bytes
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void write(long offset, byte[] src, int srcOffset, int length) throws IOException {
        Objects.checkFromIndexSize(srcOffset, length, src.length);
        write(offset, MemorySegment.ofArray(src).asSlice(srcOffset, length));
    }

    /**
     * Writes all of {@code src} at guest {@code offset}.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void write(long offset, byte[] src) throws IOException {
        write(offset, MemorySegment.ofArray(src));
    }

    /**
     * Writes {@code src.remaining()} bytes at guest {@code offset}; advances the buffer's position.
     *
     * @param offset guest offset in bytes
     * @param src the bytes to write
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void write(long offset, ByteBuffer src) throws IOException {
        int n = src.remaining();
        write(offset, MemorySegment.ofBuffer(src));
        src.position(src.position() + n);
    }

    /**
     * Makes {@code length} guest bytes at {@code offset} read as zeros, as QEMU does it: whole,
     * unallocated clusters become zero-cluster entries (no data cluster is spent, and a backing
     * file is hidden); everything else gets real zeros, written in place where the cluster exists
     * (so no space leaks) and into a new cluster where not.
     *
     * @param offset guest offset in bytes
     * @param length number of bytes
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void writeZeroes(long offset, long length) throws IOException {
        pipeline.awaitDurable(place(offset, length, null, Change.DATA, awaited(durability), "write-zeroes"));
    }

    /**
     * Makes {@code length} guest bytes at {@code offset} read as zeros, and with {@code unmap}
     * gives the space of the whole clusters among them back, as {@link #discard} does. Without
     * {@code unmap} it is {@link #writeZeroes(long, long)}: clusters that exist stay allocated
     * and are zeroed. The partial clusters at the ends get zeros either way.
     *
     * @param offset guest offset in bytes
     * @param length number of bytes
     * @param unmap whether whole clusters may stop being allocated
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void writeZeroes(long offset, long length, boolean unmap) throws IOException {
        if (!unmap) {
            writeZeroes(offset, length);
            return;
        }
        pipeline.awaitDurable(place(offset, length, null, Change.UNMAP_ZEROES, awaited(durability), "write-zeroes"));
    }

    /**
     * Gives the space of the whole clusters in {@code length} guest bytes at {@code offset}
     * back: they stop being allocated and read as zeros (an image with a backing file gets
     * zero-cluster entries, so the backing file does not show through). The partial clusters
     * at the ends are left as they are, as a discard may. The freed space is punched out of
     * the file (the host file system gets it back) and reused by later writes, lowest offset
     * first, once the change is durable and no read can still be copying from it
     * (docs/design.md, "Discard and space reuse"). A range of nothing but partial clusters
     * is a no-op.
     *
     * @param offset guest offset in bytes
     * @param length number of bytes
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void discard(long offset, long length) throws IOException {
        pipeline.awaitDurable(place(offset, length, null, Change.DISCARD, awaited(durability), "discard")); // read-only: refused in place
    }

    /**
     * {@return bytes of the image file that are free: given back by discards (punched), and
     * handed out again before the file grows}
     * On a read-write image, space a discard freed counts once the change is durable and no
     * read can still be copying from it, and the free space earlier sessions left counts once
     * the scan that open starts in the background has found it. A read-only image counts it
     * from its tables when asked (clusters no table names that are holes in the file).
     *
     * @throws IOException when the read-only count cannot read the file
     */
    public long freeBytes() throws IOException {
        ensureOpen();
        return reclaimer != null ? reclaimer.freeBytes() : FreeSpaceScan.countFreeBytes(file, geometry);
    }

    /** What {@link #place} does to a range: write {@code src} (zeros when null), or hand it to the discarder. */
    private enum Change { DATA, DISCARD, UNMAP_ZEROES }

    /** The request of a change its caller awaits at once: with write-through, a sync it makes itself if it can. */
    private static Request awaited(Durability writeDurability) {
        return writeDurability == Durability.WRITE_THROUGH ? Request.SYNC_BY_CALLER : Request.QUEUE;
    }

    /**
     * Makes {@code change} to the range, admitted; returns the ticket a durable request waits
     * for, or 0. {@code request}: {@link Request#QUEUE} for write-back, else the sync request.
     */
    private long place(long offset, long length, MemorySegment src, Change change, Request request,
                       String operation) throws IOException {
        ensureOpen();
        if (pipeline == null) {
            throw new QedReadOnlyException(operation);
        }
        long admitted = pipeline.admit();
        boolean placed = false;
        try {
            checkRange(offset, length);
            long ticket = 0;
            if (change == Change.DATA) {
                ticket = planner.write(offset, length, src, 0, request); // new entries carry the sync request
            } else {
                discarder.discard(offset, length, change == Change.UNMAP_ZEROES);
            }
            if (ticket == 0 && request != Request.QUEUE) {
                ticket = pipeline.requestSync(request);
            }
            placed = true;
            return ticket;
        } catch (MappedImageFile.MappedFault fault) {
            throw fault.getCause(); // the file was cut short under the mapping: EIO, and the image failed
        } catch (InternalError late) { // the same fault, raised after the accessor returned (compiled code)
            throw file.faultOf(late, operation);
        } finally {
            pipeline.release(admitted);
            if (!placed && request == Request.SYNC_BY_CALLER) {
                pipeline.wakeCommitter(); // what this failed request queued must not wait for its caller
            }
        }
    }

    /**
     * Makes every write that returned before this call durable. Concurrent flushes share the work.
     *
     * @throws IOException when it fails; the subclass of {@link QedException} says how (package documentation)
     */
    public void flush() throws IOException {
        ensureOpen();
        if (pipeline != null) {
            pipeline.awaitDurable(pipeline.requestSync(Request.SYNC_BY_CALLER));
        }
    }

    /** {@return a future completed when every write placed before this call is durable: {@link #flush()} without waiting} */
    public CompletableFuture<Void> flushAsync() {
        try {
            ensureOpen();
            return pipeline == null ? CompletableFuture.completedFuture(null) : pipeline.whenDurable(pipeline.requestSync());
        } catch (IOException | RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Commits and flushes everything (read-write images), gives preallocated space back so the file
     * ends at its last used cluster, clears NEED_CHECK unless something failed, and releases the
     * mapping and the file. Idempotent.
     */
    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            if (pipeline != null) {
                pipeline.close();
            }
            file.throwIfFailed(); // even when nothing was pending: the failed sync covered earlier writes
        } catch (IOException | RuntimeException e) {
            Cleanup.closeAfter(e, file, backing);
            throw e;
        }
        Cleanup.closeAll(file, backing);
    }

    private void checkRange(long offset, long length) throws QedRangeException {
        long size = size();
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new QedRangeException(offset, length, size);
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException(path() + " is closed");
        }
    }
}
