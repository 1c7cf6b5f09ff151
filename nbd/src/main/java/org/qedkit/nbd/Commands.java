package org.qedkit.nbd;

import org.qedkit.MapEntry;
import org.qedkit.QedImage;
import org.qedkit.QedIoException;
import org.qedkit.QedRangeException;
import org.qedkit.QedReadOnlyException;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ByteChannel;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * What each NBD command does to the image, and its reply. Only the engine's public API is
 * used: {@link QedImage#read}, {@link QedImage#write}, {@link QedImage#discard},
 * {@link QedImage#writeZeroes}, {@link QedImage#flush}, and {@link QedImage#mapEntryAt} for
 * holes and block status (through the whole backing chain, as a client sees the image).
 *
 * <p>Errors are the specification's: {@code EPERM} for a change to a read-only export,
 * {@code EINVAL} for a bad flag or a range past the end (reads, trims, status),
 * {@code ENOSPC} for writes past the end and a full disk, {@code EOVERFLOW} for an
 * unfragmented read longer than the largest payload, {@code ENOTSUP} for a fast zero that
 * would have to write, {@code ESHUTDOWN} once the image is closed, {@code EIO} for the rest.
 * With structured replies, every error carries a message naming the request and the rule.
 */
final class Commands {
    /** Bytes moved per step between the socket and the image: the most one request holds. */
    static final int PIECE = 256 * 1024;
    /** Lookups one block status request may make; a client asks again from where the reply ended. */
    private static final int MAX_STATUS_LOOKUPS = 65536;

    private final Handshake.Session session;
    private final NbdExport export;
    private final QedImage image;
    private final ReplySender replies;
    private final ConcurrentLinkedQueue<ByteBuffer> pieces = new ConcurrentLinkedQueue<>();

    Commands(Handshake.Session session, ReplySender replies) {
        this.session = session;
        this.export = session.export();
        this.image = export.image();
        this.replies = replies;
    }

    // ------------------------------------------------------------------ writes (reading thread)

    /**
     * Reads a write's payload from {@code channel} and stores it piece by piece. Returns what
     * is left to do on another thread (a FUA write's flush and reply), or null when the reply
     * is sent. Throws only when the connection itself failed.
     */
    Runnable write(ReadableByteChannel channel, int flags, long cookie, long offset, long length) throws IOException {
        int error = 0;
        String message = null;
        if (export.readOnly()) {
            error = NbdWire.EPERM;
            message = "write: the export is read-only";
        } else if ((flags & ~NbdWire.CMD_FLAG_FUA) != 0) {
            error = NbdWire.EINVAL;
            message = "write: flags 0x" + Integer.toHexString(flags) + " are not valid for a write";
        } else if (pastEnd(offset, length)) {
            error = NbdWire.ENOSPC;
            message = rangeMessage("write", offset, length);
        }
        ByteBuffer piece = takePiece();
        try {
            long done = 0;
            while (done < length) {
                int n = (int) Math.min(PIECE, length - done);
                piece.clear().limit(n);
                while (piece.hasRemaining()) {
                    if (channel.read(piece) < 0) {
                        throw new EOFException("the client closed the connection within a write's payload");
                    }
                }
                if (error == 0) {
                    try {
                        image.write(offset + done, piece.flip());
                    } catch (IOException | IllegalStateException e) {
                        error = errno(e);
                        message = "write at " + (offset + done) + ": " + e.getMessage();
                    }
                }
                done += n;
            }
        } finally {
            pieces.offer(piece);
        }
        if (error != 0) {
            fail(cookie, error, message);
            return null;
        }
        if ((flags & NbdWire.CMD_FLAG_FUA) != 0) {
            return () -> {
                try {
                    image.flush();
                    ok(cookie);
                } catch (IOException | IllegalStateException e) {
                    failQuietly(cookie, errno(e), "write (FUA): " + e.getMessage());
                }
            };
        }
        ok(cookie);
        return null;
    }

    // ------------------------------------------------------------------ everything else (own thread)

    /** Runs one request that is not a write and replies; throws only a bug of the server, after answering EIO. */
    void run(int type, int flags, long cookie, long offset, long length) {
        try {
            switch (type) {
                case NbdWire.CMD_READ -> read(flags, cookie, offset, length);
                case NbdWire.CMD_FLUSH -> {
                    if (checkFlags("flush", flags, 0, cookie)) {
                        image.flush();
                        ok(cookie);
                    }
                }
                case NbdWire.CMD_TRIM -> trim(flags, cookie, offset, length);
                case NbdWire.CMD_WRITE_ZEROES -> writeZeroes(flags, cookie, offset, length);
                case NbdWire.CMD_BLOCK_STATUS -> blockStatus(flags, cookie, offset, length);
                case NbdWire.CMD_CACHE -> cache(flags, cookie, offset, length);
                default -> fail(cookie, NbdWire.EINVAL, "command " + type + " is not known");
            }
        } catch (IOException | IllegalStateException e) {
            failQuietly(cookie, errno(e), command(type) + " at " + offset + ": " + e.getMessage());
        } catch (RuntimeException bug) {
            // Not the client's fault, nor the image's: answer, then let the thread report it.
            failQuietly(cookie, NbdWire.EIO, command(type) + " at " + offset + ": " + bug);
            throw bug;
        }
    }

    private void read(int flags, long cookie, long offset, long length) throws IOException {
        int allowed = session.structured() ? NbdWire.CMD_FLAG_DF : 0;
        if (!checkFlags("read", flags, allowed, cookie)) {
            return;
        }
        if (pastEnd(offset, length)) {
            fail(cookie, NbdWire.EINVAL, rangeMessage("read", offset, length));
            return;
        }
        if (!session.structured()) {
            if (length > NbdWire.MAX_PAYLOAD) {
                fail(cookie, NbdWire.EINVAL, "read of " + length + " bytes: at most " + NbdWire.MAX_PAYLOAD);
                return;
            }
            streamRead(cookie, offset, length, false);
            return;
        }
        if (length == 0) {
            replies.none(cookie);
            return;
        }
        if ((flags & NbdWire.CMD_FLAG_DF) != 0) {
            if (length > NbdWire.MAX_PAYLOAD) {
                fail(cookie, NbdWire.EOVERFLOW, "read of " + length + " bytes without fragments: at most "
                        + NbdWire.MAX_PAYLOAD);
                return;
            }
            streamRead(cookie, offset, length, true);
            return;
        }
        // Fragments: zeros go as hole chunks (twelve bytes each), data in pieces.
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            MapEntry entry = image.mapEntryAt(pos, end - pos);
            long runEnd = Math.min(end, entry.start() + entry.length());
            if (readsAsZeros(entry)) {
                int lookups = 0;
                while (runEnd < end && lookups++ < MAX_STATUS_LOOKUPS) {
                    MapEntry next = image.mapEntryAt(runEnd, end - runEnd);
                    if (!readsAsZeros(next)) {
                        break;
                    }
                    runEnd = Math.min(end, next.start() + next.length());
                }
                replies.offsetHole(cookie, runEnd == end, pos, runEnd - pos);
                pos = runEnd;
                continue;
            }
            ByteBuffer piece = takePiece();
            try {
                while (pos < runEnd) {
                    int n = (int) Math.min(PIECE, runEnd - pos);
                    piece.clear().limit(n);
                    image.read(pos, piece);
                    replies.offsetData(cookie, pos + n == end, pos, piece.flip());
                    pos += n;
                }
            } finally {
                pieces.offer(piece);
            }
        }
    }

    private static boolean readsAsZeros(MapEntry entry) {
        return !entry.data() && (entry.zero() || !entry.present());
    }

    /**
     * A read sent as one payload (a simple reply, or one data chunk for DF). The first piece is
     * read before anything is sent, so a failing read gets an ordinary error reply; a piece
     * after it that fails leaves no way to say so in the middle of the payload, and the
     * connection is closed, as the specification requires.
     */
    private void streamRead(long cookie, long offset, long length, boolean chunk) throws IOException {
        ByteBuffer piece = takePiece();
        try {
            int first = (int) Math.min(PIECE, length);
            piece.clear().limit(first);
            image.read(offset, piece);
            piece.flip();
            replies.lockForStream();
            try {
                if (chunk) {
                    replies.offsetDataHeaderLocked(cookie, true, offset, length);
                } else {
                    replies.simpleHeaderLocked(cookie);
                }
                replies.rawLocked(piece);
                for (long done = first; done < length; ) {
                    int n = (int) Math.min(PIECE, length - done);
                    piece.clear().limit(n);
                    try {
                        image.read(offset + done, piece);
                    } catch (IOException | RuntimeException e) {
                        replies.breakConnection();
                        throw e;
                    }
                    replies.rawLocked(piece.flip());
                    done += n;
                }
            } finally {
                replies.unlockStream();
            }
        } finally {
            pieces.offer(piece);
        }
    }

    private void trim(int flags, long cookie, long offset, long length) throws IOException {
        if (!checkFlags("trim", flags, 0, cookie)) {
            return;
        }
        if (export.readOnly()) {
            fail(cookie, NbdWire.EPERM, "trim: the export is read-only");
            return;
        }
        if (pastEnd(offset, length)) {
            fail(cookie, NbdWire.EINVAL, rangeMessage("trim", offset, length));
            return;
        }
        if (export.unmap() && length > 0) {
            image.discard(offset, length);
            if ((flags & NbdWire.CMD_FLAG_FUA) != 0) {
                image.flush();
            }
        }
        ok(cookie);
    }

    private void writeZeroes(int flags, long cookie, long offset, long length) throws IOException {
        if (!checkFlags("write zeroes", flags, NbdWire.CMD_FLAG_NO_HOLE | NbdWire.CMD_FLAG_FAST_ZERO, cookie)) {
            return;
        }
        if (export.readOnly()) {
            fail(cookie, NbdWire.EPERM, "write zeroes: the export is read-only");
            return;
        }
        if (pastEnd(offset, length)) {
            fail(cookie, NbdWire.ENOSPC, rangeMessage("write zeroes", offset, length));
            return;
        }
        boolean unmap = export.unmap() && (flags & NbdWire.CMD_FLAG_NO_HOLE) == 0;
        if ((flags & NbdWire.CMD_FLAG_FAST_ZERO) != 0 && !unmap) {
            // Without freeing clusters, allocated ones are zeroed byte by byte: no faster than a write.
            fail(cookie, NbdWire.ENOTSUP, "write zeroes: a fast zero needs the export's unmap and no NO_HOLE flag");
            return;
        }
        if (length > 0) {
            image.writeZeroes(offset, length, unmap);
            if ((flags & NbdWire.CMD_FLAG_FUA) != 0) {
                image.flush();
            }
        }
        ok(cookie);
    }

    private void blockStatus(int flags, long cookie, long offset, long length) throws IOException {
        if (!checkFlags("block status", flags, NbdWire.CMD_FLAG_REQ_ONE, cookie)) {
            return;
        }
        if (!session.anyContext()) {
            fail(cookie, NbdWire.EINVAL, "block status: no metadata context was selected");
            return;
        }
        if (length == 0 || pastEnd(offset, length)) {
            fail(cookie, NbdWire.EINVAL, rangeMessage("block status", offset, length));
            return;
        }
        boolean one = (flags & NbdWire.CMD_FLAG_REQ_ONE) != 0;
        StatusRuns base = new StatusRuns();
        StatusRuns depth = new StatusRuns();
        long end = offset + length;
        long pos = offset;
        for (int lookups = 0; pos < end && lookups < MAX_STATUS_LOOKUPS; lookups++) {
            MapEntry entry = image.mapEntryAt(pos, end - pos);
            long runEnd = Math.min(end, entry.start() + entry.length());
            int allocation = (entry.data() ? 0 : NbdWire.STATE_HOLE)
                    | (entry.zero() || !entry.present() ? NbdWire.STATE_ZERO : 0);
            int chainDepth = entry.present() ? entry.depth() + 1 : 0;
            boolean baseGrew = base.add(allocation, runEnd - pos, one);
            boolean depthGrew = depth.add(chainDepth, runEnd - pos, one);
            pos = runEnd;
            if (one && !(baseGrew && depthGrew)) {
                break; // with REQ_ONE, a context whose run changed has its one descriptor
            }
        }
        boolean both = session.baseAllocation() && session.allocationDepth();
        if (session.baseAllocation()) {
            replies.blockStatus(cookie, !both, Handshake.Session.BASE_ALLOCATION_ID, base.descriptors, base.count);
        }
        if (session.allocationDepth()) {
            replies.blockStatus(cookie, true, Handshake.Session.ALLOCATION_DEPTH_ID, depth.descriptors, depth.count);
        }
    }

    /** The descriptors of one context: runs with one status value, neighbours merged. */
    private static final class StatusRuns {
        int[] descriptors = new int[16];
        int count;

        /** Adds a run; returns false when it was not added because REQ_ONE allows one descriptor only. */
        boolean add(int status, long length, boolean one) {
            if (count > 0 && descriptors[2 * count - 1] == status) {
                descriptors[2 * count - 2] += (int) length; // the request length fits 32 bits unsigned
                return true;
            }
            if (one && count == 1) {
                return false;
            }
            if (2 * count + 2 > descriptors.length) {
                descriptors = java.util.Arrays.copyOf(descriptors, descriptors.length * 2);
            }
            descriptors[2 * count] = (int) length;
            descriptors[2 * count + 1] = status;
            count++;
            return true;
        }
    }

    private void cache(int flags, long cookie, long offset, long length) throws IOException {
        if (!checkFlags("cache", flags, 0, cookie)) {
            return;
        }
        if (pastEnd(offset, length)) {
            fail(cookie, NbdWire.EINVAL, rangeMessage("cache", offset, length));
            return;
        }
        // Reading brings the image's pages (and the backing files') into the page cache.
        ByteBuffer piece = takePiece();
        try {
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(PIECE, length - done);
                image.read(offset + done, piece.clear().limit(n));
                done += n;
            }
        } finally {
            pieces.offer(piece);
        }
        ok(cookie);
    }

    // ------------------------------------------------------------------ helpers

    /** True when the flags are valid for the command; otherwise replies EINVAL and returns false. */
    private boolean checkFlags(String command, int flags, int allowed, long cookie) throws IOException {
        if ((flags & ~(allowed | NbdWire.CMD_FLAG_FUA)) == 0) {
            return true;
        }
        fail(cookie, NbdWire.EINVAL, command + ": flags 0x" + Integer.toHexString(flags) + " are not valid for it");
        return false;
    }

    /** Whether {@code [offset, offset + length)} (offset unsigned) runs past the export's end. */
    private boolean pastEnd(long offset, long length) {
        return offset < 0 || offset > image.size() || length > image.size() - offset;
    }

    private String rangeMessage(String command, long offset, long length) {
        return command + " of " + length + " bytes at " + Long.toUnsignedString(offset)
                + " runs past the export's end at " + image.size();
    }

    private void ok(long cookie) throws IOException {
        replies.simple(cookie, 0);
    }

    private void fail(long cookie, int error, String message) throws IOException {
        if (session.structured()) {
            replies.error(cookie, error, message);
        } else {
            replies.simple(cookie, error);
        }
    }

    /** {@link #fail} from a request's own thread: a reply that cannot be sent ends nothing more. */
    private void failQuietly(long cookie, int error, String message) {
        try {
            fail(cookie, error, message);
        } catch (IOException ignored) {
            // the connection is gone; its reading thread ends it
        }
    }

    private ByteBuffer takePiece() {
        ByteBuffer piece = pieces.poll();
        return piece != null ? piece : ByteBuffer.allocateDirect(PIECE);
    }

    /** The NBD error for a failure of the engine. */
    static int errno(Throwable e) {
        if (e instanceof QedReadOnlyException) {
            return NbdWire.EPERM;
        }
        if (e instanceof QedRangeException) {
            return NbdWire.EINVAL;
        }
        if (e instanceof QedIoException io && io.isNoSpace()) {
            return NbdWire.ENOSPC;
        }
        if (e instanceof IllegalStateException) {
            return NbdWire.ESHUTDOWN; // the image was closed under the request
        }
        return NbdWire.EIO;
    }

    private static String command(int type) {
        return switch (type) {
            case NbdWire.CMD_READ -> "read";
            case NbdWire.CMD_FLUSH -> "flush";
            case NbdWire.CMD_TRIM -> "trim";
            case NbdWire.CMD_WRITE_ZEROES -> "write zeroes";
            case NbdWire.CMD_BLOCK_STATUS -> "block status";
            case NbdWire.CMD_CACHE -> "cache";
            default -> "command " + type;
        };
    }
}
