package org.qedkit.internal;

import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.Limits;
import org.qedkit.OpenOptions;
import org.qedkit.QedHeader;
import org.qedkit.QedImage;
import org.qedkit.QedLimitException;
import org.qedkit.internal.hooks.OpenContext;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opening an image: the policy half of what the public {@code QedImage.open} does (the
 * facade keeps the I/O half). In order: map the file, take QEMU's locks, read and validate
 * the header, refuse what is past the {@link Limits}, recover (a read-write open clears
 * unknown auto-clear bits and repairs an image left with NEED_CHECK; a read-only one checks
 * it in memory), open the backing chain ({@link BackingChain}), and wire the parts: the
 * cluster map, and for a read-write image the overlay, allocator, commit pipeline and
 * write planner. Whatever fails on the way closes what was opened.
 */
public final class ImageOpener {
    private ImageOpener() {
    }

    /** Opens the image at {@code path} with {@code context}'s hooks attached to it alone. */
    public static QedImage open(Path path, OpenOptions options, OpenContext context) throws IOException {
        return open(path, options, context, new ArrayList<>());
    }

    /** Opens one link of a backing chain; {@code chain} holds the real paths opened so far. */
    static QedImage open(Path path, OpenOptions options, OpenContext context, List<Path> chain) throws IOException {
        MappedImageFile file = MappedImageFile.open(path, !options.readOnly(), context.storageObserver());
        BackingFile backing = null;
        try {
            file.adviseAccess(options.accessPattern());
            if (!options.forceShare()) {
                file.lockLikeQemu();
            }
            QedHeader header = HeaderCodec.read(file);
            Limits limits = options.limits();
            requireWithinLimits(path, header, limits);
            if (header.needsCheck()) {
                // Refused before the open writes anything (prepareForWriting may).
                ImageChecker.requireWithinLimits(file, header,
                        options.readOnly() ? CheckMode.REPORT : CheckMode.REPAIR_ALL, limits);
            }
            CheckResult check = null;
            if (!options.readOnly()) {
                header = prepareForWriting(file, header);
                if (header.needsCheck()) {
                    // Not closed cleanly: reclaim what the crash leaked, fix what it broke.
                    check = ImageChecker.run(file, header, CheckMode.REPAIR_ALL, limits);
                    header = ImageChecker.headerAfterRepair(file, check);
                }
            } else if (header.needsCheck()) {
                check = ImageChecker.run(file, header, CheckMode.REPORT, limits); // in memory; writes nothing
            }
            if (header.hasBackingFile()) {
                chain.add(path.toRealPath());
                backing = options.openBackingChain() ? BackingChain.open(path, header, options, context, chain)
                        : new UnopenedBackingFile(path, header.backingFilename());
            }
            return EngineAccess.newImage(wire(file, header, options, context, check, backing));
        } catch (IOException | RuntimeException e) {
            Cleanup.closeAfter(e, backing, file);
            throw e;
        }
    }

    private static OpenedImage wire(MappedImageFile file, QedHeader header, OpenOptions options, OpenContext context,
                                    CheckResult check, BackingFile backing) {
        Geometry geometry = Geometry.of(header);
        if (options.readOnly()) {
            ClusterMap map = new ClusterMap(file, geometry, options.l2CacheTables(), null);
            return new OpenedImage(file, map, header, check, backing, null, null, options, null, null, null);
        }
        PendingOverlay overlay = new PendingOverlay();
        ClusterMap map = new ClusterMap(file, geometry, options.l2CacheTables(), overlay);
        FreeSpace free = new FreeSpace();
        ReaderEpochs epochs = new ReaderEpochs();
        SpaceReclaimer reclaimer = new SpaceReclaimer(file, free, epochs);
        ClusterAllocator allocator = new ClusterAllocator(file, geometry.clusterSize(), free,
                options.firstBlocksWrittenAhead());
        CommitPipeline pipeline = new CommitPipeline(file, map, overlay, allocator, reclaimer,
                new HeaderState(file, header),
                new CommitSettings(options.commitInterval(), options.maxQueuedEntries(), context.clock()), true);
        WritePlanner planner = new WritePlanner(file, map, overlay, allocator, backing, pipeline, epochs);
        Discarder discarder = new Discarder(file, map, overlay, planner, pipeline, reclaimer, epochs, backing != null);
        try {
            FreeSpaceScan.startIfWorthwhile(file, geometry, epochs, reclaimer, free, pipeline.planLock());
        } catch (IOException e) {
            // No scan: the space earlier discards freed stays unused this time (the file only grows).
        }
        return new OpenedImage(file, map, header, check, backing, pipeline, planner, options, epochs, discarder,
                reclaimer);
    }

    /** Refuses a header past the size limits, before anything reads a table or writes. */
    static void requireWithinLimits(Path path, QedHeader header, Limits limits) throws QedLimitException {
        if (Long.compareUnsigned(header.imageSize(), limits.maxVirtualSize()) > 0) {
            throw new QedLimitException("maxVirtualSize", path + ": its virtual size of "
                    + Long.toUnsignedString(header.imageSize()) + " bytes is over the limit of "
                    + limits.maxVirtualSize());
        }
    }

    /**
     * Before the first write: a partial cluster at the end goes (nothing may reference it,
     * and new clusters then start aligned), and auto-clear bits this engine does not know
     * are cleared (the format's rule for structures an older program cannot keep up to date).
     */
    private static QedHeader prepareForWriting(MappedImageFile file, QedHeader header) throws IOException {
        file.cutPartialCluster(header.clusterSize());
        long unknownAutoclear = header.autoclearFeatures() & ~QedHeader.KNOWN_AUTOCLEAR_FEATURES;
        if (unknownAutoclear != 0) {
            header = header.withAutoclearFeatures(header.autoclearFeatures() & QedHeader.KNOWN_AUTOCLEAR_FEATURES);
            HeaderCodec.write(header, file);
            file.sync();
        }
        return header;
    }
}
