package org.qedkit.internal;

import org.qedkit.CheckResult;
import org.qedkit.OpenOptions;
import org.qedkit.QedHeader;

/**
 * The parts of one open image, wired by the {@link ImageOpener} and handed to the public
 * facade, which only does I/O through them.
 *
 * @param file        the mapped image file
 * @param map         guest offset to file offset, committed and pending entries alike
 * @param header      the header as the open found (and maybe repaired) it
 * @param checkAtOpen the check the open ran because NEED_CHECK was set, or null
 * @param backing     the backing file, or null without one
 * @param pipeline    the commit pipeline, or null for a read-only image
 * @param planner     where writes are planned, or null for a read-only image
 * @param options     how the image was opened
 * @param epochs      the grace periods of freed space, or null for a read-only image
 * @param discarder   where discards are decided, or null for a read-only image
 * @param reclaimer   freed space on its way to reuse, and the free space, or null for a read-only image
 */
public record OpenedImage(MappedImageFile file, ClusterMap map, QedHeader header, CheckResult checkAtOpen,
                          BackingFile backing, CommitPipeline pipeline, WritePlanner planner, OpenOptions options,
                          ReaderEpochs epochs, Discarder discarder, SpaceReclaimer reclaimer) {
}
