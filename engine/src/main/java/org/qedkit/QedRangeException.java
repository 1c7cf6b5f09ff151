package org.qedkit;

/** A request reaches outside the guest-visible size of the image. */
public final class QedRangeException extends QedException {
    private static final long serialVersionUID = 1L;

    /**
     * A request outside the image.
     *
     * @param offset    the request's guest offset
     * @param length    its length in bytes
     * @param imageSize the image's guest size
     */
    public QedRangeException(long offset, long length, long imageSize) {
        super("request at offset " + offset + " of " + length + " bytes is outside the image: "
                + "offset and offset + length must lie within 0.." + imageSize);
    }
}
