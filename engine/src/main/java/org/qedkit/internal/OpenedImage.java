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
 */
public record OpenedImage(MappedImageFile file, ClusterMap map, QedHeader header, CheckResult checkAtOpen,
                          BackingFile backing, CommitPipeline pipeline, WritePlanner planner, OpenOptions options) {
}
