//! The table page's small inline SVG charts of its time partitions: per partition a bar before
//! and a bar after the compaction plan, one chart of files and one of bytes. A partition the
//! plan leaves alone is after as it is before.
//!
//! Geometry only, computed here where it can be tested; `templates/admin/chart.html` draws it.
//! Every bar carries its partition and value as `data-` attributes and a `<title>` tooltip.

use std::fmt;

use super::format;
use crate::admin::tables::PartitionView;

/// The chart's width, in SVG units (pixels at 100 %).
const WIDTH: f64 = 640.0;
/// Its height.
const HEIGHT: f64 = 170.0;
/// Room for the value axis's labels.
const LEFT: f64 = 64.0;
/// Room right of the last bar.
const RIGHT: f64 = 8.0;
/// Room above the tallest bar.
const TOP: f64 = 8.0;
/// Room for the partition labels.
const BOTTOM: f64 = 24.0;
/// Partitions a chart shows at most: the newest, a week of hours.
pub(super) const MAX_PARTITIONS: usize = 168;
/// Partition labels under a chart at most.
const X_LABELS: usize = 6;
/// Share of a partition's slot the two bars take together; the rest is the gap between slots.
const BARS_SHARE: f64 = 0.8;

/// What a chart measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// Live data files.
    Files,
    /// Their bytes.
    Bytes,
}

impl Measure {
    /// The partition's value before and after compaction, and whether the plan compacts it.
    fn of(self, p: &PartitionView) -> (u64, u64, bool) {
        match self {
            Self::Files => (p.files, p.planned_files.unwrap_or(p.files), p.planned_files.is_some()),
            Self::Bytes => (p.bytes, p.planned_bytes.unwrap_or(p.bytes), p.planned_bytes.is_some()),
        }
    }

    /// `value` in words: `1 file`, `6 files`, `1.5 KiB`.
    fn text(self, value: u64) -> String {
        match self {
            Self::Files if value == 1 => "1 file".to_string(),
            Self::Files => format!("{value} files"),
            Self::Bytes => format::bytes(value),
        }
    }
}

/// Which bar of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Series {
    /// As the table is now.
    Before,
    /// As the compaction plan would leave it.
    After,
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Before => "before",
            Self::After => "after",
        })
    }
}

/// One chart, laid out.
#[derive(Debug, Clone)]
pub(super) struct Chart {
    /// The element id: `files-chart` or `bytes-chart`.
    pub(super) id: &'static str,
    /// Its caption.
    pub(super) title: &'static str,
    /// The attribute each bar's value is in: `data-files` or `data-bytes`.
    pub(super) attr: &'static str,
    /// The SVG's width.
    pub(super) width: f64,
    /// The SVG's height.
    pub(super) height: f64,
    /// Where the plot's left edge is, the value axis.
    pub(super) left: f64,
    /// Where the plot's right edge is.
    pub(super) right: f64,
    /// Where the bars stand: the zero line.
    pub(super) baseline: f64,
    /// Every bar, partition by partition, before then after.
    pub(super) bars: Vec<Bar>,
    /// A few partition labels, under their bars.
    pub(super) x_labels: Vec<Label>,
    /// The value axis's labels: zero and the largest value.
    pub(super) y_labels: Vec<Label>,
    /// Partitions shown.
    pub(super) shown: usize,
    /// Partitions the table has.
    pub(super) total: usize,
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bar {
    /// Its partition's label.
    pub(super) partition: String,
    /// Before or after.
    pub(super) series: Series,
    /// The value it stands for.
    pub(super) value: u64,
    /// Its left edge.
    pub(super) x: f64,
    /// Its top.
    pub(super) y: f64,
    /// Its width.
    pub(super) width: f64,
    /// Its height.
    pub(super) height: f64,
    /// Its tooltip.
    pub(super) title: String,
}

/// A label at a point.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Label {
    /// Its anchor's x.
    pub(super) x: f64,
    /// Its baseline's y.
    pub(super) y: f64,
    /// What it says.
    pub(super) text: String,
}

/// The chart of `measure` over `partitions` (oldest first): the newest
/// [`MAX_PARTITIONS`] of them.
pub(super) fn chart(measure: Measure, partitions: &[PartitionView]) -> Chart {
    let (id, title, attr) = match measure {
        Measure::Files => ("files-chart", "Data files per partition", "data-files"),
        Measure::Bytes => ("bytes-chart", "Bytes per partition", "data-bytes"),
    };
    let shown = &partitions[partitions.len().saturating_sub(MAX_PARTITIONS)..];
    let max = shown
        .iter()
        .map(|p| {
            let (before, after, _) = measure.of(p);
            before.max(after)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let baseline = TOP + plot_height;
    let slot = plot_width / shown.len().max(1) as f64;
    let bar_width = slot * BARS_SHARE / 2.0;
    let mut bars = Vec::with_capacity(shown.len() * 2);
    for (i, p) in shown.iter().enumerate() {
        let (before, after, planned) = measure.of(p);
        let first = LEFT + i as f64 * slot + slot * (1.0 - BARS_SHARE) / 2.0;
        let bar = |series: Series, value: u64, x: f64| {
            let height = value as f64 / max as f64 * plot_height;
            let when = match series {
                Series::Before => "before compaction",
                Series::After if planned => "after compaction (planned)",
                Series::After => "after compaction (left as is)",
            };
            Bar {
                partition: p.partition.clone(),
                series,
                value,
                x: round(x),
                y: round(baseline - height),
                width: round(bar_width),
                height: round(height),
                title: format!("{}: {} {when}", p.partition, measure.text(value)),
            }
        };
        bars.push(bar(Series::Before, before, first));
        bars.push(bar(Series::After, after, first + bar_width));
    }
    let x_labels = label_indices(shown.len())
        .into_iter()
        .map(|i| Label {
            x: round(LEFT + (i as f64 + 0.5) * slot),
            y: HEIGHT - 6.0,
            text: short_label(&shown[i].partition),
        })
        .collect();
    let y_labels = [(0, baseline), (max, TOP)]
        .into_iter()
        .map(|(value, y)| Label { x: LEFT - 6.0, y: round(y + 4.0), text: measure.text(value) })
        .collect();
    Chart {
        id,
        title,
        attr,
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: WIDTH - RIGHT,
        baseline,
        bars,
        x_labels,
        y_labels,
        shown: shown.len(),
        total: partitions.len(),
    }
}

/// Which of `n` partitions get a label: at most [`X_LABELS`], spread evenly, the first and
/// the last among them.
fn label_indices(n: usize) -> Vec<usize> {
    if n <= X_LABELS {
        return (0..n).collect();
    }
    let mut out: Vec<usize> = (0..X_LABELS).map(|k| k * (n - 1) / (X_LABELS - 1)).collect();
    out.dedup();
    out
}

/// A partition's label short enough to sit under a bar: `01-15 10h` for the hour
/// `2026-01-15-10`, `01-15` for the day `2026-01-15`.
fn short_label(partition: &str) -> String {
    let parts: Vec<&str> = partition.split('-').collect();
    match parts.as_slice() {
        [_, month, day, hour] => format!("{month}-{day} {hour}h"),
        [_, month, day] => format!("{month}-{day}"),
        _ => partition.to_string(),
    }
}

/// `v` to two decimals: SVG coordinates need no more.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;

    fn partition(
        label: &str,
        files: u64,
        bytes: u64,
        planned: Option<(u64, u64)>,
    ) -> PartitionView {
        PartitionView {
            partition: label.to_string(),
            hour: 0,
            files,
            small_files: files,
            bytes,
            delete_files: 0,
            delete_rows: 0,
            planned_files: planned.map(|p| p.0),
            planned_bytes: planned.map(|p| p.1),
        }
    }

    #[test]
    fn bars_stand_on_the_baseline_in_proportion_to_the_largest_value() {
        let parts = [
            partition("2026-01-15-10", 6, 6000, Some((2, 5000))),
            partition("2026-01-15-11", 3, 3000, None),
        ];
        let c = chart(Measure::Files, &parts);
        let plot_height = HEIGHT - TOP - BOTTOM;
        assert_eq!(c.bars.len(), 4);
        let values: Vec<u64> = c.bars.iter().map(|b| b.value).collect();
        assert_eq!(values, [6, 2, 3, 3], "an unplanned partition is after as before");
        let series: Vec<Series> = c.bars.iter().map(|b| b.series).collect();
        assert_eq!(series, [Series::Before, Series::After, Series::Before, Series::After]);
        assert_eq!(c.bars[0].height, plot_height, "the largest value fills the plot");
        assert_eq!(c.bars[1].height, round(plot_height / 3.0));
        assert_eq!(c.bars[2].height, c.bars[3].height);
        for b in &c.bars {
            assert_eq!(round(b.y + b.height), c.baseline, "{b:?} stands on the baseline");
            assert!(b.x >= c.left && b.x + b.width <= c.right, "{b:?} is inside the plot");
        }
        // Side by side, left to right, never overlapping.
        for pair in c.bars.windows(2) {
            assert!(pair[0].x + pair[0].width <= pair[1].x + 0.01, "{pair:?}");
        }
        assert_eq!(c.bars[1].title, "2026-01-15-10: 2 files after compaction (planned)");
        assert_eq!(c.bars[3].title, "2026-01-15-11: 3 files after compaction (left as is)");
        let texts: Vec<&str> = c.y_labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["0 files", "6 files"]);
        assert_eq!(c.x_labels[0].text, "01-15 10h");

        let c = chart(Measure::Bytes, &parts);
        let values: Vec<u64> = c.bars.iter().map(|b| b.value).collect();
        assert_eq!(values, [6000, 5000, 3000, 3000]);
        assert_eq!(c.attr, "data-bytes");
    }

    #[test]
    fn a_long_history_shows_its_newest_partitions_with_a_few_labels() {
        let parts: Vec<PartitionView> = (0..200)
            .map(|h| partition(&format!("2026-01-{:02}-{:02}", 1 + h / 24, h % 24), 1, 10, None))
            .collect();
        let c = chart(Measure::Files, &parts);
        assert_eq!((c.shown, c.total, c.bars.len()), (MAX_PARTITIONS, 200, 2 * MAX_PARTITIONS));
        assert_eq!(c.bars[0].partition, parts[200 - MAX_PARTITIONS].partition);
        assert_eq!(c.x_labels.len(), X_LABELS);
        assert_eq!(label_indices(3), [0, 1, 2]);
        assert_eq!(label_indices(11), [0, 2, 4, 6, 8, 10]);
        // An empty table still draws its axes.
        let empty = chart(Measure::Bytes, &[]);
        assert!(empty.bars.is_empty() && empty.x_labels.is_empty());
        assert_eq!(short_label("2026-01-15"), "01-15");
    }

    /// The chart template alone, as the table page includes it.
    #[derive(Template)]
    #[template(path = "admin/chart.html")]
    struct Figure<'a> {
        chart: &'a Chart,
    }

    #[test]
    fn every_bar_carries_its_partition_value_and_tooltip_escaped() {
        let parts = [partition("<script>alert(1)</script>", 6, 6000, Some((1, 5000)))];
        let c = chart(Measure::Files, &parts);
        let svg = Figure { chart: &c }.render().unwrap();
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 2, "{svg}");
        assert!(svg.contains("data-files=\"6\""), "{svg}");
        assert!(svg.contains("data-files=\"1\""), "{svg}");
        assert!(svg.contains("data-series=\"after\""), "{svg}");
        assert!(svg.contains("data-partition=\"&#60;script&#62;alert(1)&#60;/script&#62;\""));
        assert!(svg.contains("<title>&#60;script&#62;alert(1)&#60;/script&#62;: 6 files"));
        assert!(!svg.contains("<script>"), "{svg}");
    }
}
