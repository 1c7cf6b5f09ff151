package org.qedkit;

import java.util.List;

/**
 * What a consistency check found, with the counts {@code qemu-img check} reports. After a
 * repair, {@link #corruptions()} and {@link #leaks()} are what a second check of the
 * repaired image found, and the {@code …Fixed} counts say what the repair changed.
 *
 * @param corruptions        invalid or twice-referenced entries still in the image
 * @param leaks              clusters past the header that nothing references and that hold data
 * @param corruptionsFixed   corruptions the repair removed
 * @param leaksFixed         leaked clusters the repair gave back
 * @param checkErrors        parts of the image the check could not read
 * @param totalClusters      guest size in clusters
 * @param allocatedClusters  L2 entries that point at a data cluster (valid or not, as QEMU counts)
 * @param fragmentedClusters data clusters not directly after the previous one of their L2 table
 * @param freeClusters       clusters past the header that nothing references and that are holes in the
 *                           file: space a discard gave back, which the engine reuses (QEMU counts them as
 *                           leaks; they are not counted in {@code leaks} and cost no disk)
 * @param problems           one line per problem found, e.g. {@code L2[0][1] = 0x3000: cluster referenced twice}
 */
public record CheckResult(long corruptions, long leaks, long corruptionsFixed, long leaksFixed,
                          long checkErrors, long totalClusters, long allocatedClusters,
                          long fragmentedClusters, long freeClusters, List<String> problems) {

    /** Copies {@code problems}, so a result never changes after it is made. */
    public CheckResult {
        problems = List.copyOf(problems);
    }

    /** {@return true when nothing is wrong: no corruption, no leak, no error} */
    public boolean isClean() {
        return corruptions == 0 && leaks == 0 && checkErrors == 0;
    }

    /** {@return the exit code qemu-img check would give: 0 clean, 1 check failed, 2 corruptions, 3 leaks only} */
    public int exitCode() {
        if (checkErrors > 0) {
            return 1;
        }
        if (corruptions > 0) {
            return 2;
        }
        return leaks > 0 ? 3 : 0;
    }
}
