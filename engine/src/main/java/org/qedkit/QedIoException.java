package org.qedkit;

import org.qedkit.internal.MappedImageFile;

/**
 * A system call on the image file failed. {@link #errno()} gives the Linux error number;
 * {@link #isNoSpace()} tells a full disk apart, after which the image is still consistent
 * and later writes succeed once space is freed.
 */
public final class QedIoException extends QedException {
    private static final long serialVersionUID = 1L;
    private static final int ENOSPC = 28;

    private final int errno;
    private final String description;

    /**
     * A failed system call on the image file.
     *
     * @param operation   the system call or step that failed, e.g. {@code fdatasync}
     * @param file        the file it failed on
     * @param errno       the Linux error number
     * @param description the C library's text for {@code errno}
     */
    public QedIoException(String operation, String file, int errno, String description) {
        super(operation + " failed on " + file + ": " + description + " (errno " + errno + ")");
        this.errno = errno;
        this.description = description;
    }

    /**
     * A failed request of {@code operation} on {@code file} with the C library's own text for
     * {@code errno}: for tools that inject errors as QEMU's blkdebug does.
     *
     * @param operation the request or step that failed
     * @param file      the file it failed on
     * @param errno     the Linux error number
     * @return the exception, its description the C library's text for {@code errno}
     */
    public static QedIoException of(String operation, String file, int errno) {
        return new QedIoException(operation, file, errno, MappedImageFile.describeErrno(errno));
    }

    /** {@return the C library's text for {@link #errno()}, e.g. {@code No space left on device}} */
    public String description() {
        return description;
    }

    /** {@return the Linux errno value the system call returned} */
    public int errno() {
        return errno;
    }

    /** {@return true when the file system ran out of space (ENOSPC)} */
    public boolean isNoSpace() {
        return errno == ENOSPC;
    }
}
