/**
 * qedkit's public API: {@link org.qedkit.QedImage} (an open image: read, write, zero, flush,
 * close; and the tools for closed images), the immutable options it takes, and what it
 * reports.
 *
 * <h2>Exceptions: one rule</h2>
 * Everything a request or an image can cause is an {@link java.io.IOException}, always a
 * {@link org.qedkit.QedException} or a subclass:
 * <ul>
 *   <li>the request: a range outside the image ({@link org.qedkit.QedRangeException}), a
 *       write to a read-only image ({@link org.qedkit.QedReadOnlyException});</li>
 *   <li>the image: a header or entry that breaks a rule of the format
 *       ({@link org.qedkit.QedFormatException}: field, value, rule), an image past a
 *       {@link org.qedkit.Limits} bound ({@link org.qedkit.QedLimitException}), an image
 *       another process holds ({@link org.qedkit.QedLockedException});</li>
 *   <li>the disk: a failed system call ({@link org.qedkit.QedIoException}, with its errno;
 *       {@code isNoSpace()} for a full disk), and every request after a failed sync (a
 *       {@code QedException} that says so: a failed sync is final).</li>
 * </ul>
 * Ranges and read-only writes are checked exceptions on purpose: in a storage daemon they
 * come from its clients (a guest, an NBD request), not from a bug, and must become protocol
 * errors without catching {@code RuntimeException}.
 *
 * <p>Misuse of the Java objects themselves is unchecked, as for any JDK resource: using an
 * image after {@code close()} ({@link java.lang.IllegalStateException}; a write or flush that
 * races {@code close()} gets it too, or completes), null arguments
 * ({@link java.lang.NullPointerException}), contradictory options or arguments
 * ({@link java.lang.IllegalArgumentException}). When cleaning up after a failure, the first
 * failure is thrown and the others are attached to it as suppressed.
 */
package org.qedkit;
