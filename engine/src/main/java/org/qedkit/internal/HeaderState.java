package org.qedkit.internal;

import org.qedkit.QedHeader;

import java.io.IOException;

/**
 * The header of a read-write image as it stands, and the two changes writing makes to it:
 * NEED_CHECK set durably before the first allocation after a clean state, and cleared
 * when everything is committed. Owned by the {@link CommitPipeline}; both changes run under
 * its plan lock, so an allocation never races the header that says whether it may leak.
 */
final class HeaderState {
    private final MappedImageFile file;
    private volatile QedHeader current;

    HeaderState(MappedImageFile file, QedHeader atOpen) {
        this.file = file;
        this.current = atOpen;
    }

    /** The header as it stands now. */
    QedHeader current() {
        return current;
    }

    /** Sets NEED_CHECK and syncs it, unless it is set already. Caller holds the plan lock. */
    void markNeedCheck() throws IOException {
        QedHeader h = current;
        if (!h.needsCheck()) {
            QedHeader dirty = h.withFeatures(h.features() | QedHeader.FEATURE_NEED_CHECK);
            HeaderCodec.write(dirty, file);
            file.sync();
            current = dirty;
        }
    }

    /** Clears NEED_CHECK and syncs it. Caller holds the plan lock and has made everything else durable. */
    void markClean() throws IOException {
        if (file.corruptionSeen()) {
            return; // a corrupt entry was met: the next open must check (MappedImageFile#noteCorruption)
        }
        QedHeader h = current;
        QedHeader clean = h.withFeatures(h.features() & ~QedHeader.FEATURE_NEED_CHECK);
        HeaderCodec.write(clean, file);
        file.sync();
        current = clean;
    }
}
