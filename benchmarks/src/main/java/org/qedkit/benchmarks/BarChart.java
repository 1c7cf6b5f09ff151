package org.qedkit.benchmarks;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Draws a grouped bar chart as a PNG from a small CSV, with nothing but the JDK (headless
 * Java2D): the comparison script's plots, so they need no plotting package on the machine.
 *
 * <p>CSV: a header line {@code group,series,value}, then one line per bar. Groups are the
 * clusters along the x axis (e.g. "write-through d8"), series the bars in each cluster
 * (e.g. "qedkit", "qemu-img threads"), values in the unit given on the command line.
 *
 * <p>Usage: {@code BarChart IN.csv OUT.png "title" "unit" [log]}: with {@code log}, the value
 * axis is logarithmic (ratios that span 0.5 to 50 stay readable), with a line at 1.
 */
public final class BarChart {
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0xd62728), new Color(0x9467bd)};

    private BarChart() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4 && args.length != 5) {
            System.err.println("usage: BarChart IN.csv OUT.png TITLE UNIT [log]");
            System.exit(2);
        }
        System.setProperty("java.awt.headless", "true");
        Map<String, Map<String, Double>> groups = new LinkedHashMap<>();
        List<String> series = new ArrayList<>();
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split(",");
            groups.computeIfAbsent(f[0], g -> new LinkedHashMap<>()).put(f[1], Double.parseDouble(f[2]));
            if (!series.contains(f[1])) {
                series.add(f[1]);
            }
        }
        boolean log = args.length == 5 && args[4].equals("log");
        ImageIO.write(draw(groups, series, args[2], args[3], log), "png", Path.of(args[1]).toFile());
    }

    static BufferedImage draw(Map<String, Map<String, Double>> groups, List<String> series, String title, String unit,
                              boolean log) {
        int width = Math.max(640, 100 + groups.size() * Math.max(170, series.size() * 36 + 40));
        int height = 420;
        int left = 80;
        int right = 20;
        int top = 50;
        int bottom = 90;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        double max = groups.values().stream().flatMap(m -> m.values().stream()).mapToDouble(Double::doubleValue)
                .max().orElse(1);
        double scale = niceCeiling(max);
        int plotHeight = height - top - bottom;
        // Log axis: decades from 0.1 up to the first power of ten above the largest value.
        double logLow = -1;
        double logHigh = Math.max(1, Math.ceil(Math.log10(Math.max(max, 1e-9))));
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, left, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        int ticks = log ? (int) (logHigh - logLow) : 5;
        for (int i = 0; i <= ticks; i++) {
            int y = top + plotHeight - plotHeight * i / ticks;
            g.setColor(log && logLow + i == 0 ? Color.GRAY : new Color(0xdddddd));
            g.drawLine(left, y, width - right, y);
            g.setColor(Color.BLACK);
            String label = log ? format(Math.pow(10, logLow + i)) : format(scale * i / 5);
            g.drawString(label, left - 8 - g.getFontMetrics().stringWidth(label), y + 4);
        }
        g.drawString(unit, 8, top - 10);
        int groupWidth = (width - left - right) / Math.max(1, groups.size());
        int bar = Math.min(36, (groupWidth - 20) / Math.max(1, series.size()));
        int x0 = left;
        for (Map.Entry<String, Map<String, Double>> group : groups.entrySet()) {
            int x = x0 + (groupWidth - bar * series.size()) / 2;
            for (int s = 0; s < series.size(); s++) {
                Double v = group.getValue().get(series.get(s));
                if (v != null && v > 0) {
                    int h = log
                            ? (int) Math.round(plotHeight * (Math.log10(Math.max(v, 0.1)) - logLow) / (logHigh - logLow))
                            : (int) Math.round(plotHeight * v / scale);
                    g.setColor(COLORS[s % COLORS.length]);
                    g.fillRect(x + s * bar, top + plotHeight - h, bar - 4, h);
                }
            }
            g.setColor(Color.BLACK);
            int w = g.getFontMetrics().stringWidth(group.getKey());
            g.drawString(group.getKey(), x0 + (groupWidth - w) / 2, top + plotHeight + 16);
            x0 += groupWidth;
        }
        g.setStroke(new BasicStroke(1));
        g.drawLine(left, top + plotHeight, width - right, top + plotHeight);
        int lx = left;
        for (int s = 0; s < series.size(); s++) {
            g.setColor(COLORS[s % COLORS.length]);
            g.fillRect(lx, height - 40, 12, 12);
            g.setColor(Color.BLACK);
            g.drawString(series.get(s), lx + 16, height - 30);
            lx += 30 + g.getFontMetrics().stringWidth(series.get(s));
        }
        g.dispose();
        return image;
    }

    private static double niceCeiling(double v) {
        double magnitude = Math.pow(10, Math.floor(Math.log10(Math.max(v, 1e-9))));
        for (double step : new double[]{1, 2, 2.5, 5, 10}) {
            if (step * magnitude >= v) {
                return step * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static String format(double v) {
        return v >= 1000 ? String.format(Locale.ROOT, "%,.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }
}
