package org.qedkit;

/** What shrinking an image may do with clusters of data that lie past the new end. */
public enum DataPastEnd {
    /** Refuse to shrink when data would be cut off (the default, as a careful tool does). */
    REFUSE,
    /** Cut it off: the clusters are given back ({@code qed resize --shrink --force}). */
    DISCARD
}
