package org.qedkit.internal;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The ranges a commit round stored into: widened to pages, merged when they touch, counted as places. */
class StoredPagesTest {
    private static final long PAGE = Posix.PAGE_ALIGNMENT;

    @Test
    void aRangeIsWidenedToTheWholePagesItTouches() {
        StoredPages pages = new StoredPages();
        pages.add(PAGE + 8, PAGE + 16);
        pages.add(5 * PAGE - 8, 5 * PAGE + 8);
        assertThat(pages.count()).isEqualTo(2);
        assertThat(new long[] {pages.start(0), pages.end(0)}).containsExactly(PAGE, 2 * PAGE);
        assertThat(new long[] {pages.start(1), pages.end(1)}).containsExactly(4 * PAGE, 6 * PAGE);
    }

    @Test
    void entriesOfOnePageAreOnePlaceAndAdjacentClustersOneRangeOfSeveralPlaces() {
        StoredPages pages = new StoredPages();
        for (long entry = 0; entry < 64; entry += 8) {
            pages.add(entry, entry + 8); // eight table entries in the first page
        }
        for (long cluster = 16 * PAGE; cluster < 19 * PAGE; cluster += PAGE) {
            pages.add(cluster, cluster + PAGE); // three clusters, one after another
        }
        assertThat(pages.count()).as("ranges").isEqualTo(2);
        assertThat(pages.places()).as("one table page and three clusters").isEqualTo(4);
        assertThat(new long[] {pages.start(1), pages.end(1)}).containsExactly(16 * PAGE, 19 * PAGE);
    }

    @Test
    void rangesOutOfOrderStayApartAndAClearStartsAgainWithNothing() {
        StoredPages pages = new StoredPages();
        for (int i = 200; i > 0; i--) {
            pages.add(i * 2 * PAGE, i * 2 * PAGE + 1); // descending, one page apart: never touching
        }
        assertThat(pages.count()).isEqualTo(200);
        assertThat(pages.places()).isEqualTo(200);
        assertThat(pages.start(199)).isEqualTo(2 * PAGE);
        pages.clear();
        assertThat(pages.count()).isZero();
        assertThat(pages.places()).isZero();
    }
}
