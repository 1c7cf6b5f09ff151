package org.qedkit;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Which backing files an image may name, for daemons that open images uploaded by
 * tenants: an image's header can name any path, and following it blindly lets one tenant
 * read another's disk or a host file through its overlay. Checked for every link of the
 * chain before the file is opened; a refusal is a {@link QedFormatException} on
 * {@code backing_filename} that names the rule.
 *
 * @param allowAbsolutePaths whether a backing name may be an absolute path
 * @param root               when set, every backing file must resolve (symbolic links
 *                           followed) to a path inside this directory
 * @param allowProbing       whether a backing file whose format the header does not record
 *                           may be probed; QED records only "raw", so without probing only raw
 *                           backing files open (a raw file probed as QED could point anywhere)
 */
public record BackingPolicy(boolean allowAbsolutePaths, Path root, boolean allowProbing) {

    /** What QEMU does: any path, probing allowed. */
    public static final BackingPolicy PERMISSIVE = new BackingPolicy(true, null, true);

    /**
     * For images from untrusted sources: relative names only, resolving inside
     * {@code root}, formats as the header records them (raw), never probed.
     *
     * @param root the folder every backing file must resolve into
     * @return the policy
     */
    public static BackingPolicy untrusted(Path root) {
        return new BackingPolicy(false, Objects.requireNonNull(root, "root"), false);
    }

    /**
     * Returns this policy with probing allowed or not (for chains of QED images under a
     * trusted root).
     *
     * @param allow true to let a backing file without a recorded format be probed
     * @return the policy
     */
    public BackingPolicy withProbing(boolean allow) {
        return new BackingPolicy(allowAbsolutePaths, root, allow);
    }
}
