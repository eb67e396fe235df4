package dev.cryo.bench.macro;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * PNG charts of time against memory size: one per tool (frozen, dump and restore, per directory kind), and one
 * with every tool's frozen time. Needs {@code java.awt.headless=true} on machines without a display.
 */
public final class TimeCharts {
    static final int WIDTH = 960, HEIGHT = 560;

    private TimeCharts() {
    }

    /** Writes chart-TOOL.png for each tool and chart-frozen.png; returns the files written. */
    public static List<Path> write(BenchRun run, Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        Set<String> tools = new LinkedHashSet<>();
        run.rows().forEach(r -> tools.add(r.tool()));
        for (String tool : tools) {
            XYSeriesCollection data = new XYSeriesCollection();
            for (TargetDir.Kind kind : run.plan().dirs()) {
                data.addSeries(series("frozen (" + kind.label + ")", run, tool, kind, r -> r.frozenUs() / 1e3));
                data.addSeries(series("dump wall (" + kind.label + ")", run, tool, kind, r -> r.dumpWallNanos() / 1e6));
                data.addSeries(series("restore wall (" + kind.label + ")", run, tool, kind, r -> r.restoreWallNanos() / 1e6));
            }
            // colour says the figure, a dashed line says disk
            out.add(save(chart(tool + ": time against memory size", data, run, 3, true), dir.resolve("chart-" + tool + ".png")));
        }
        XYSeriesCollection frozen = new XYSeriesCollection();
        for (String tool : tools) {
            for (TargetDir.Kind kind : run.plan().dirs()) {
                frozen.addSeries(series(tool + " (" + kind.label + ")", run, tool, kind, r -> r.frozenUs() / 1e3));
            }
        }
        // colour says the tool, a dashed line says disk
        out.add(save(chart("frozen time against memory size", frozen, run, run.plan().dirs().size(), false),
                dir.resolve("chart-frozen.png")));
        return out;
    }

    private static XYSeries series(String name, BenchRun run, String tool, TargetDir.Kind kind, ToDoubleFunction<Row> ms) {
        XYSeries s = new XYSeries(name);
        for (Row r : run.rows()) {
            if (r.tool().equals(tool) && r.dir() == kind) {
                double x = r.memoryBytes() / 1048576.0;
                double y = ms.applyAsDouble(r);
                if (!Double.isNaN(x) && !Double.isNaN(y)) {
                    s.add(x, y);
                }
            }
        }
        return s;
    }

    static final Color[] COLOURS = {new Color(0xd62728), new Color(0x1f77b4), new Color(0x2ca02c), new Color(0x9467bd),
            new Color(0xff7f0e), new Color(0x8c564b)};

    /**
     * @param group         series come in groups of this size
     * @param colourInGroup the position in the group picks the colour and the group the line style (groups are
     *                      directory kinds); else the other way round (groups are tools, positions directories)
     */
    private static JFreeChart chart(String title, XYSeriesCollection data, BenchRun run, int group,
                                    boolean colourInGroup) {
        JFreeChart chart = ChartFactory.createXYLineChart(title, "private memory of the fixture (MiB)", "time (ms)",
                data, PlotOrientation.VERTICAL, true, false, false);
        chart.addSubtitle(new TextTitle(String.format("%s run, medians of %d, %s", run.plan().quick() ? "QUICK" : "full",
                run.plan().reps(), run.started().truncatedTo(java.time.temporal.ChronoUnit.SECONDS))));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            int colour = colourInGroup ? i % group : i / group;
            int style = colourInGroup ? i / group : i % group;
            renderer.setSeriesPaint(i, COLOURS[colour % COLOURS.length]);
            renderer.setSeriesStroke(i, style == 0 ? new BasicStroke(2f)
                    : new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{8f, 5f}, 0f));
        }
        plot.setRenderer(renderer);
        int items = 0;
        for (int i = 0; i < data.getSeriesCount(); i++) {
            items += data.getItemCount(i);
        }
        if (items == 0) {
            chart.addSubtitle(new TextTitle("no successful runs to plot"));
        }
        return chart;
    }

    private static Path save(JFreeChart chart, Path file) throws IOException {
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
        return file;
    }
}
