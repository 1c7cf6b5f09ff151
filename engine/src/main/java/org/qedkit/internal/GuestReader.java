package org.qedkit.internal;

import org.qedkit.Extent;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The read path: guest bytes from this image's data clusters, the backing file, or zeros,
 * piece by piece ({@link Geometry#pieceLength}), without locks or allocation; a read from the
 * backing file may leave a copy behind (copy-on-read). Range and open checks are the
 * caller's.
 *
 * <p>A fault on the mapping ({@link MappedImageFile.MappedFault}: the file was cut short
 * under us, or the JVM's InternalError for it, raised late in compiled code) ends the read
 * with an EIO {@link org.qedkit.QedIoException}.
 */
public final class GuestReader {
    private final MappedImageFile file;
    private final ClusterMap map;
    private final Geometry geometry;
    private final BackingFile backing;   // null without a backing file
    private final WritePlanner planner;  // null when read-only
    private final boolean copyOnRead;
    private final ReaderEpochs epochs;   // null when read-only: nothing is ever freed under a read

    public GuestReader(OpenedImage parts) {
        this.file = parts.file();
        this.map = parts.map();
        this.geometry = map.geometry();
        this.backing = parts.backing();
        this.planner = parts.planner();
        this.copyOnRead = parts.options().copyOnRead() && backing != null && planner != null;
        this.epochs = parts.epochs();
    }

    /*
     * Every read runs inside a ReaderEpochs section: a discard may unlink a cluster between
     * the lookup and the copy, and the section keeps the cluster from being punched or reused
     * until the copy is done (the copy then returns what the range held just before).
     */

    /** Fills {@code dst} with the guest bytes at {@code offset}. */
    public void read(long offset, MemorySegment dst) throws IOException {
        long length = dst.byteSize();
        int token = epochs == null ? 0 : epochs.enter();
        try {
            for (long done = 0, n; done < length; done += n) {
                long pos = offset + done;
                n = geometry.pieceLength(pos, length - done);
                long entry = map.lookup(pos);
                if (entry > ClusterMap.ZERO) {
                    file.copyOut(entry + geometry.inCluster(pos), dst, done, n);
                } else if (entry == ClusterMap.UNALLOCATED && backing != null) {
                    fromBacking(pos, dst, done, n);
                } else {
                    dst.asSlice(done, n).fill((byte) 0);
                }
            }
        } catch (MappedImageFile.MappedFault fault) {
            throw fault.getCause();
        } catch (InternalError late) {
            throw file.faultOf(late, "read");
        } finally {
            if (epochs != null) {
                epochs.exit(token);
            }
        }
    }

    /** Reads {@code length} guest bytes at {@code offset} into {@code dst} at {@code dstOffset}, without wrapping it. */
    public void read(long offset, byte[] dst, int dstOffset, int length) throws IOException {
        int token = epochs == null ? 0 : epochs.enter();
        try {
            for (int done = 0, n; done < length; done += n) {
                long pos = offset + done;
                n = (int) geometry.pieceLength(pos, length - done);
                long entry = map.lookup(pos);
                if (entry > ClusterMap.ZERO) {
                    file.copyOut(entry + geometry.inCluster(pos), dst, dstOffset + done, n);
                } else if (entry == ClusterMap.UNALLOCATED && backing != null) {
                    fromBacking(pos, MemorySegment.ofArray(dst), dstOffset + done, n);
                } else {
                    Arrays.fill(dst, dstOffset + done, dstOffset + done + n, (byte) 0);
                }
            }
        } catch (MappedImageFile.MappedFault fault) {
            throw fault.getCause();
        } catch (InternalError late) {
            throw file.faultOf(late, "read");
        } finally {
            if (epochs != null) {
                epochs.exit(token);
            }
        }
    }

    /** The run from {@code offset} with one allocation state in this image, at most {@code maxLength} bytes. */
    public Extent extentAt(long offset, long maxLength) throws IOException {
        int token = epochs == null ? 0 : epochs.enter();
        try {
            return map.extentAt(offset, maxLength);
        } catch (MappedImageFile.MappedFault fault) {
            throw fault.getCause();
        } catch (InternalError late) {
            throw file.faultOf(late, "read");
        } finally {
            if (epochs != null) {
                epochs.exit(token);
            }
        }
    }

    /**
     * The entry of the data cluster holding {@code offset}, looked up inside an epoch section
     * (a table freed and reused at that instant is never read as this image's), or 0 when the
     * cluster is not a data cluster of this image. For {@code QedImage.view}: what the caller
     * does with the view afterwards is outside any section, as its contract says.
     */
    public long dataClusterAt(long offset) throws IOException {
        int token = epochs == null ? 0 : epochs.enter();
        try {
            long entry = map.lookup(offset);
            return entry > ClusterMap.ZERO ? entry : 0;
        } catch (MappedImageFile.MappedFault fault) {
            throw fault.getCause();
        } catch (InternalError late) {
            throw file.faultOf(late, "read");
        } finally {
            if (epochs != null) {
                epochs.exit(token);
            }
        }
    }

    private void fromBacking(long pos, MemorySegment dst, long dstOffset, long n) throws IOException {
        backing.read(pos, dst, dstOffset, n);
        if (copyOnRead) {
            planner.copyOnRead(pos);
        }
    }
}
