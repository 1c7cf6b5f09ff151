package org.qedkit.cli;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * QEMU's size texts, computed without {@code BigDecimal} (whose loading cost every command
 * ~15 ms): each result equals the exact decimal computation, which serves here as the
 * oracle, over the edges and many random values.
 */
class SizesTest {

    /** qemu-img's size_to_str by exact decimal arithmetic: three significant digits, half to even. */
    private static String exactImgHuman(long bytes) {
        String[] prefixes = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        int exponent = bytes <= 0 ? 0 : Math.getExponent(bytes / (1000.0 / 1024.0));
        int i = Math.max(0, exponent) / 10;
        BigDecimal value = BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(1L << (10 * i)));
        BigDecimal rounded = value.round(new MathContext(3, RoundingMode.HALF_EVEN)).stripTrailingZeros();
        if (rounded.compareTo(BigDecimal.valueOf(1000)) >= 0) {
            return "1e+03 " + prefixes[i] + "B"; // printf's %g switches to its exponent form
        }
        String text = rounded.scale() < 0 ? rounded.setScale(0).toPlainString() : rounded.toPlainString();
        return text + " " + prefixes[i] + "B";
    }

    /** printf's %.3f by exact decimal arithmetic, ".000" dropped. */
    private static String exactThreeDecimals(double v) {
        String s = new BigDecimal(v).setScale(3, RoundingMode.HALF_EVEN).toPlainString();
        return s.endsWith(".000") ? s.substring(0, s.length() - 4) : s;
    }

    private static long exactParse(String digitsAndFraction, long multiplier) {
        return new BigDecimal(digitsAndFraction).multiply(BigDecimal.valueOf(multiplier))
                .setScale(0, RoundingMode.DOWN).longValueExact();
    }

    @Test
    void qemuImgSizesMatchTheExactRoundingAtEveryEdgeAndAtRandom() {
        List<Long> values = new ArrayList<>(List.of(0L, 1L, 512L, 999L, 1000L, 1023L, 1024L, 1025L, 659456L,
                10485760L, 1610612736L, 1023488L, 1023999L, 1024000L, 1048063L, Long.MAX_VALUE, Long.MAX_VALUE - 1,
                1L << 62, (1L << 60) - 1));
        for (int shift = 0; shift < 63; shift++) {
            for (long d = -3; d <= 3; d++) {
                values.add(Math.max(0, (1L << shift) + d));
                values.add(Math.max(0, 1000L * (1L << (shift / 10 * 10)) + d)); // around each unit's 1000
                values.add(Math.max(0, 9995L * (1L << (shift / 10 * 10)) / 10 + d)); // around x.995
            }
        }
        SplittableRandom random = new SplittableRandom(42);
        for (int n = 0; n < 200_000; n++) {
            values.add(random.nextLong(Long.MAX_VALUE) >>> random.nextInt(63));
        }
        for (long v : values) {
            assertThat(Sizes.qemuImgHuman(v)).as("%d bytes", v).isEqualTo(exactImgHuman(v));
        }
        assertThat(Sizes.qemuImgHuman(1023488)).as("999.5 KiB: printf's %%g").isEqualTo("1e+03 KiB");
        assertThat(Sizes.qemuImgHuman(1000448)).isEqualTo("977 KiB");
    }

    @Test
    void qemuIoSizesMatchTheExactRoundingAtTiesAndAtRandom() {
        List<Double> values = new ArrayList<>(List.of(0.0, 1.0, 1.0625, 1.0005, 1.0015, 0.0005, 0.0015, 512.0,
                1023.9995, 9.765625, 999.9995, 4.0, Double.MIN_VALUE, 1e-300, 0.00049999999999999));
        SplittableRandom random = new SplittableRandom(7);
        for (int n = 0; n < 200_000; n++) {
            values.add(random.nextDouble() * 1024);
            values.add(random.nextLong(1 << 30) / 1024.0 / (1 << random.nextInt(20))); // binary fractions: ties
        }
        for (double v : values) {
            assertThat(Sizes.qemuIoHuman(v).replace(" bytes", "")).as("%s", v)
                    .isEqualTo(v >= 1024 ? Sizes.qemuIoHuman(v).replace(" bytes", "") : exactThreeDecimals(v));
        }
        assertThat(Sizes.qemuIoHuman(10000)).isEqualTo("9.766 KiB");
        assertThat(Sizes.qemuIoHuman(1.0625)).isEqualTo("1.062 bytes");
    }

    @Test
    void parsedSizesMatchTheExactValueAndRefuseWhatQemuRefuses() {
        String[] units = {"", "k", "M", "G", "T", "P", "E"};
        SplittableRandom random = new SplittableRandom(3);
        for (int n = 0; n < 100_000; n++) {
            int u = random.nextInt(units.length);
            long multiplier = 1L << (10 * u);
            long whole = random.nextLong(Math.max(1, Long.MAX_VALUE / multiplier / 2));
            String fraction = u == 0 ? "" : "." + Long.toString(1_000_000_000_000L + random.nextLong(1_000_000_000_000L))
                    .substring(1, 2 + random.nextInt(12));
            String text = whole + fraction + units[u];
            assertThat(Sizes.parse(text)).as(text).isEqualTo(exactParse(whole + fraction, multiplier));
        }
        assertThat(Sizes.parse("1.5k")).isEqualTo(1536);
        assertThat(Sizes.parse("0.1k")).isEqualTo(102);
        assertThat(Sizes.parse("1.0")).isEqualTo(1);
        assertThat(Sizes.parse("0.1234567890123456789012E")).isEqualTo(exactParse("0.1234567890123456789012", 1L << 60));
        assertThat(Sizes.parse("7E")).isEqualTo(7L << 60);
        for (String bad : List.of("1e3", "1E3", "+5", "-5", "2.5e1k", "1.5", "", " ", ".5k", "1..5k", "0x", "k", "1 k")) {
            assertThatThrownBy(() -> Sizes.parse(bad)).as("'%s'", bad).hasMessageContaining("is not a size");
        }
        assertThatThrownBy(() -> Sizes.parse("8E")).hasMessageContaining("too large");
        assertThatThrownBy(() -> Sizes.parse("99999999999999999999")).hasMessageContaining("too large");
    }
}
