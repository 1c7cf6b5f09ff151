package org.qedkit.internal;

import org.qedkit.BackingPolicy;
import org.qedkit.Limits;
import org.qedkit.MapEntry;
import org.qedkit.OpenOptions;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;

/**
 * Backing files open in this process, shared by every overlay that names the same file:
 * a base image under a hundred overlays is opened, locked and mapped once, and its pages
 * are cached once. Backing files are only ever read, so sharing them is safe; each
 * overlay holds a reference, and the last one to close closes the file.
 *
 * <p>Files are told apart by the file system's identity (device and inode), not by name,
 * so two paths to one file share, and a file replaced under the same name does not. Opens
 * share only when they would open the file alike (lock or not, limits, backing policy);
 * the access pattern of the first open is the one the kernel is told.
 * Not on any read path: the map is consulted at open and close only.
 */
final class SharedBackingFiles {
    private record Key(Object fileKey, boolean raw, boolean forceShare, Limits limits, BackingPolicy policy) {
    }

    private static final class Entry {
        final BackingFile file;
        int references;

        Entry(BackingFile file) {
            this.file = file;
        }
    }

    /** Opens a backing file that no overlay shares yet. */
    interface Opener {
        BackingFile open() throws IOException;
    }

    private static final Map<Key, Entry> OPEN = new HashMap<>();

    private SharedBackingFiles() {
    }

    /**
     * The open backing file at {@code real} (a real path), opened by {@code opener} if no
     * overlay holds it; the returned handle's {@code close} gives this reference back.
     */
    static BackingFile acquire(Path real, boolean raw, OpenOptions options, Opener opener) throws IOException {
        Object fileKey = Files.readAttributes(real, BasicFileAttributes.class).fileKey();
        if (fileKey == null) {
            return opener.open(); // no identity to share by
        }
        Key key = new Key(fileKey, raw, options.forceShare(), options.limits(), options.backingPolicy());
        Entry entry;
        synchronized (OPEN) {
            entry = OPEN.get(key);
            if (entry == null) {
                // Opening under the lock keeps two overlays from opening the same base twice.
                // Opens are rare and usually short (a header and a lock); a base left with
                // NEED_CHECK is checked in memory first, within Limits.maxCheckTime, and
                // other opens of backed images wait meanwhile.
                entry = new Entry(opener.open());
                OPEN.put(key, entry);
            }
            entry.references++;
        }
        return new Reference(key, entry);
    }

    /** How many backing files are open (for tests). */
    static int openCount() {
        synchronized (OPEN) {
            return OPEN.size();
        }
    }

    /** One overlay's hold on a shared backing file. */
    private static final class Reference implements BackingFile {
        private final Key key;
        private final Entry entry;
        private boolean released; // guarded by OPEN

        Reference(Key key, Entry entry) {
            this.key = key;
            this.entry = entry;
        }

        @Override
        public long size() {
            return entry.file.size();
        }

        @Override
        public void read(long offset, MemorySegment dst, long dstOffset, long length) throws IOException {
            entry.file.read(offset, dst, dstOffset, length);
        }

        @Override
        public MapEntry map(long offset, long length, int depth) throws IOException {
            return entry.file.map(offset, length, depth);
        }

        @Override
        public void close() throws IOException {
            boolean last;
            synchronized (OPEN) {
                if (released) {
                    return;
                }
                released = true;
                last = --entry.references == 0;
                if (last) {
                    OPEN.remove(key, entry);
                }
            }
            if (last) {
                entry.file.close();
            }
        }
    }
}
