package org.qedkit.internal;

import org.qedkit.BackingFormat;
import org.qedkit.CreateOptions;
import org.qedkit.QedFormatException;
import org.qedkit.QedHeader;

/**
 * Where things go in a header: the layout of a new image, as {@code qemu-img create -f qed}
 * makes it (the header in cluster 0, more clusters only if a long backing file name needs
 * them, the empty L1 table right after), and where a new backing file name fits beside the
 * old one, so that changing it is crash-safe (the new name is written where the old one is
 * not, and only then does the one-sector header switch to it).
 */
final class HeaderLayout {
    private HeaderLayout() {
    }

    /** The header of a new image made with {@code options}, with a backing name of {@code nameBytes} bytes. */
    static QedHeader forNewImage(CreateOptions options, int nameBytes) {
        int clusterSize = options.clusterSize();
        long features = 0;
        if (options.backingFile() != null) {
            features |= QedHeader.FEATURE_BACKING_FILE;
            if (BackingFormat.fromName(options.backingFormat()) == BackingFormat.RAW) {
                features |= QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE;
            }
        }
        // Guard the arithmetic; HeaderCodec.validate reports the rule itself.
        long clusters = clusterSize > 0 ? (QedHeader.HEADER_BYTES + nameBytes + (long) clusterSize - 1) / clusterSize : 1;
        int headerSize = (int) Math.max(1, clusters);
        long l1Offset = (long) headerSize * clusterSize;
        return new QedHeader(clusterSize, options.tableSize(), headerSize, features, 0, 0, l1Offset,
                options.roundedSize(), nameBytes == 0 ? 0 : QedHeader.HEADER_BYTES, nameBytes, options.backingFile());
    }

    /** {@code h} with no backing file. */
    static QedHeader withoutBackingFile(QedHeader h) {
        long features = h.features() & ~(QedHeader.FEATURE_BACKING_FILE | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE);
        return new QedHeader(h.clusterSize(), h.tableSize(), h.headerSize(), features, h.compatFeatures(),
                h.autoclearFeatures(), h.l1TableOffset(), h.imageSize(), 0, 0, null);
    }

    /** {@code h} naming {@code name} ({@code bytes} long, stored at {@code at}) as its backing file. */
    static QedHeader withBackingFile(QedHeader h, String name, int bytes, long at, BackingFormat format) {
        long features = h.features() & ~(QedHeader.FEATURE_BACKING_FILE | QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE);
        features |= QedHeader.FEATURE_BACKING_FILE
                | (format == BackingFormat.RAW ? QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE : 0);
        return new QedHeader(h.clusterSize(), h.tableSize(), h.headerSize(), features, h.compatFeatures(),
                h.autoclearFeatures(), h.l1TableOffset(), h.imageSize(), (int) at, bytes, name);
    }

    /**
     * Where a backing name of {@code bytes} bytes goes so that it does not overlap the
     * current one: right after the header fields if it fits before the old name (or there
     * is none), else right after the old name.
     *
     * @throws QedFormatException when it fits in neither place within the header area
     */
    static long placeForBackingName(QedHeader h, String name, int bytes) throws QedFormatException {
        long area = Integer.toUnsignedLong(h.headerSize()) * h.clusterSize();
        long oldStart = h.hasBackingFile() ? Integer.toUnsignedLong(h.backingFilenameOffset()) : 0;
        long oldEnd = h.hasBackingFile() ? oldStart + Integer.toUnsignedLong(h.backingFilenameSize()) : 0;
        long at = QedHeader.HEADER_BYTES + bytes <= oldStart || !h.hasBackingFile() || oldEnd <= QedHeader.HEADER_BYTES
                ? QedHeader.HEADER_BYTES : oldEnd;
        if (at + bytes > area) {
            throw new QedFormatException("backing_filename", name, "does not fit in the header area of "
                    + area + " bytes beside the current name (" + (oldEnd - oldStart) + " bytes at " + oldStart + ")");
        }
        return at;
    }
}
