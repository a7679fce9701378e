//! The four charts, and what they share: the page (title, and a subtitle naming the CPU and run
//! dates), system colours, axes, number formats and legends.
//!
//! Every axis is a plain `f64` range with its own tick positions: a logarithmic axis is drawn
//! in log10 space and labelled with the original values, and the latency chart's x axis is in
//! "nines" (`-log10(1 - p/100)`). Ranges are built only from finite data with `lo < hi`, so
//! odd input cannot make plotters divide by zero.

pub mod handoff;
pub mod latency;
pub mod scale;
pub mod throughput;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use ringgroup_results::names::system;
use ringgroup_results::{Record, SavedRun};

/// A drawing error (plotters or the file system).
pub type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A drawing area on the SVG page.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What became of a chart.
#[derive(Debug)]
pub enum Outcome {
    /// Drawn to this file.
    Written(PathBuf),
    /// Not drawn, for this reason.
    Skipped(String),
}

/// Fonts: one family, a few sizes (plotters' SVG backend writes them at 1/1.24 of these).
pub const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 28;
const SUBTITLE_SIZE: u32 = 17;
pub const CAPTION_SIZE: u32 = 20;
pub const LABEL_SIZE: u32 = 16;
pub const DESC_SIZE: u32 = 18;

/// Parameters that describe placement or size rather than what was measured.
pub const INCIDENTAL_PARAMS: [&str; 3] = ["threads", "cores", "messages"];

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The systems in chart order (the results schema's list); each keeps its palette colour on
/// every chart, except the `floor` reference, drawn in [`FLOOR`].
pub const SYSTEMS: [&str; 10] = system::ALL;

/// Grey for text that is not data.
pub const MUTED: RGBColor = RGBColor(90, 90, 90);

/// The `floor` reference (one cache line each way): near-black, apart from every palette
/// colour, on every chart.
pub const FLOOR: RGBColor = RGBColor(40, 40, 40);

/// A system's legend label: its name, and for the `floor` what it is.
pub fn system_label(system: &str) -> String {
    if system == system::FLOOR {
        format!("{system} (reference: a cache line each way)")
    } else {
        system.to_owned()
    }
}

/// The colour of the `i`th line or bar of a chart.
pub fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A system's colour: fixed for the known systems, the rest of the palette for others.
pub fn system_color(system: &str, others: &[String]) -> RGBColor {
    if system == system::FLOOR {
        return FLOOR;
    }
    match SYSTEMS.iter().position(|s| *s == system) {
        Some(i) => palette(i),
        None => palette(SYSTEMS.len() + others.iter().position(|s| s == system).unwrap_or(0)),
    }
}

/// Known systems first, in [`SYSTEMS`] order, then the others by name.
pub fn system_order(a: &str, b: &str) -> std::cmp::Ordering {
    system::rank(a).cmp(&system::rank(b)).then_with(|| a.cmp(b))
}

/// Starts an SVG page: white, with `title` and the subtitle for `sources`; returns the area
/// left for the chart.
pub fn page<'a>(
    path: &'a Path,
    size: (u32, u32),
    title: &str,
    sources: &[&SavedRun],
) -> DrawResult<Area<'a>> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, TITLE_SIZE))?;
    let root = root.titled(
        &subtitle(sources),
        (FONT, SUBTITLE_SIZE).into_font().color(&MUTED),
    )?;
    Ok(root.margin(4, 10, 10, 10))
}

/// `CPU: <model> (2 cores) · run 2026-11-22 14:03:07 UTC`, naming every CPU (its records'
/// CPU models; "unknown" for a run that recorded none) and the span of dates when the chart
/// draws on several runs.
pub fn subtitle(sources: &[&SavedRun]) -> String {
    let cpus: BTreeSet<String> = sources
        .iter()
        .flat_map(|run| {
            run.cpus().into_iter().map(|cpu| match run.machine.cores {
                Some(n) => format!("{cpu} ({n} cores)"),
                None => cpu.to_owned(),
            })
        })
        .collect();
    let dates: BTreeSet<&str> = sources.iter().map(|run| run.date.as_str()).collect();
    let cpu = cpus.into_iter().collect::<Vec<_>>().join(" | ");
    let files: BTreeSet<&str> = sources.iter().map(|run| run.file.as_str()).collect();
    match (dates.first(), dates.last()) {
        (Some(first), Some(last)) if first == last => format!("CPU: {cpu} · run {first}"),
        (Some(first), Some(last)) => {
            format!("CPU: {cpu} · runs {first} … {last} ({} files)", files.len())
        }
        _ => format!("CPU: {cpu}"),
    }
}

/// The distinct runs that `picked` came from.
pub fn sources<'a>(picked: impl IntoIterator<Item = &'a SavedRun>) -> Vec<&'a SavedRun> {
    let mut out: Vec<&SavedRun> = Vec::new();
    for run in picked {
        if !out.iter().any(|r| r.file == run.file) {
            out.push(run);
        }
    }
    out
}

/// The parameters (outside [`INCIDENTAL_PARAMS`] and `also_ignore`) whose values differ
/// between `records`: what tells them apart in a legend.
pub fn varying_params(records: &[&Record], also_ignore: &[&str]) -> Vec<String> {
    let keys: BTreeSet<&String> = records.iter().flat_map(|r| r.params.keys()).collect();
    keys.into_iter()
        .filter(|k| !INCIDENTAL_PARAMS.contains(&k.as_str()) && !also_ignore.contains(&k.as_str()))
        .filter(|k| {
            records
                .iter()
                .any(|r| r.params.get(*k) != records[0].params.get(*k))
        })
        .cloned()
        .collect()
}

/// ` (batch=64, size_bytes=8)` for the given keys, or nothing.
pub fn param_suffix(record: &Record, keys: &[String]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let v = record.params.get(k)?;
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), fmt_num),
                other => other.to_string(),
            };
            Some(format!("{k}={v}"))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// A chart on `area` with the shared margin and label areas (`y_labels` wide), captioned when
/// `caption` is given.
pub fn chart_on<'a, 'b>(
    area: &'a Area<'b>,
    caption: Option<&str>,
    y_labels: u32,
    x: Axis,
    y: Axis,
) -> DrawResult<ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>> {
    let mut builder = ChartBuilder::on(area);
    if let Some(caption) = caption {
        builder.caption(caption, (FONT, CAPTION_SIZE));
    }
    Ok(builder
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(y_labels)
        .build_cartesian_2d(x, y)?)
}

/// How a chart's mesh differs from the house style.
pub struct MeshSpec<'s> {
    pub x_desc: &'s str,
    pub y_desc: &'s str,
    /// Vertical grid lines too.
    pub x_mesh: bool,
    /// Light grid lines in a colour of their own (plotters' default otherwise).
    pub light: Option<RGBColor>,
}

/// Draws `chart`'s mesh in the house style: labels and descriptions in [`FONT`], a grey grid.
pub fn draw_mesh(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<Axis, Axis>>,
    spec: MeshSpec<'_>,
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> DrawResult<()> {
    let mut mesh = chart.configure_mesh();
    if !spec.x_mesh {
        mesh.disable_x_mesh();
    }
    mesh.x_desc(spec.x_desc)
        .y_desc(spec.y_desc)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .bold_line_style(RGBColor(210, 210, 210));
    if let Some(light) = spec.light {
        mesh.light_line_style(light);
    }
    mesh.draw()?;
    Ok(())
}

/// One axis: its range and where its bold (labelled) and light grid lines go. It is itself the
/// plotters coordinate, so the ticks are exactly these.
#[derive(Clone, Debug)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub light: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value - self.lo) / (self.hi - self.lo);
        if !fraction.is_finite() {
            return limit.0;
        }
        // `as` saturates, so a point far outside the range stays far outside, clipped.
        limit.0 + (f64::from(limit.1 - limit.0) * fraction + 1e-3).floor() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl Axis {
    /// An axis over `lo..hi` (`lo < hi`) with ticks at `ticks`.
    pub fn ticked(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Self {
            lo,
            hi,
            ticks,
            light: Vec::new(),
        }
    }

    /// A linear axis over `[min, max]` with round ticks; from 0 when `from_zero`.
    pub fn linear(min: f64, max: f64, from_zero: bool) -> Self {
        let (mut lo, mut hi) = (if from_zero { min.min(0.0) } else { min }, max);
        if !(lo.is_finite() && hi.is_finite()) {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.5 };
            (lo, hi) = (
                if from_zero && lo >= 0.0 {
                    0.0
                } else {
                    lo - pad
                },
                hi + pad,
            );
        }
        let step = nice_step((hi - lo) / 6.0);
        let hi = hi + (hi - lo) * 0.08; // headroom for labels above the data
        let lo = if from_zero && lo >= 0.0 {
            lo
        } else {
            lo - (hi - lo) * 0.04
        };
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last).map(|k| k as f64 * step).collect();
        Self {
            lo,
            hi,
            ticks,
            light: Vec::new(),
        }
    }

    /// A logarithmic axis over `[min, max]` (both > 0), in log10 space, from the 1-2-5 step at
    /// or below `min` to the one at or above `max`: ticks at whole decades, and at 2× and 5×
    /// when it spans two decades or fewer; light lines at every other multiple.
    pub fn log10(min: f64, max: f64) -> Self {
        let (min, max) = if min > 0.0 && max >= min && max.is_finite() {
            (min, max)
        } else {
            (1.0, 10.0)
        };
        let steps = |decade: i32| [1.0, 2.0, 5.0].map(|m: f64| f64::from(decade) + m.log10());
        let lo = steps(min.log10().floor() as i32)
            .into_iter()
            .rfind(|t| *t <= min.log10() + 1e-9);
        let lo = lo.unwrap_or(min.log10().floor());
        let mut hi = steps(max.log10().floor() as i32)
            .into_iter()
            .chain([max.log10().floor() + 1.0])
            .find(|t| *t >= max.log10() - 1e-9)
            .unwrap_or(max.log10().ceil());
        if hi <= lo + 1e-9 {
            hi = lo + 2f64.log10(); // one value: a 1-2-5 step either side would do, take 2×
        }
        let mut ticks = Vec::new();
        let mut light = Vec::new();
        let fine = hi - lo <= 2.0;
        for decade in lo.floor() as i32..=hi.ceil() as i32 {
            for m in 1..10 {
                let t = f64::from(decade) + f64::from(m).log10();
                if t < lo - 1e-9 || t > hi + 1e-9 {
                    continue;
                }
                if m == 1 || (fine && (m == 2 || m == 5)) {
                    ticks.push(t);
                } else {
                    light.push(t);
                }
            }
        }
        Self {
            lo,
            hi,
            ticks,
            light,
        }
    }
}

/// 1, 2 or 5 × a power of ten, at least `rough`.
fn nice_step(rough: f64) -> f64 {
    if !(rough.is_finite() && rough > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(rough.log10().floor());
    let m = rough / power;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A short number: `0.25`, `12`, `150`, `1.5k`, `20M`.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A duration in nanoseconds, in the unit that reads best: `350 ns`, `1.2 µs`, `3 ms`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{} s", trim(ns / 1e9))
    } else if a >= 1e6 {
        format!("{} ms", trim(ns / 1e6))
    } else if a >= 1e3 {
        format!("{} µs", trim(ns / 1e3))
    } else {
        format!("{} ns", trim(ns))
    }
}

/// Three significant digits at most, no trailing zeros.
fn trim(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub enum Mark {
    /// A filled box (bars).
    Bar,
    /// A line with a dot (series).
    Line,
    /// A dashed line (markers, secondary series).
    Dashed,
}

/// One legend entry.
pub struct Entry {
    pub label: String,
    pub color: RGBColor,
    pub mark: Mark,
}

/// How wide a legend column must be for `entries`, in pixels.
pub fn legend_width<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> u32 {
    let longest = entries
        .into_iter()
        .map(|e| e.label.chars().count())
        .max()
        .unwrap_or(0) as u32;
    (longest * 7 + 50).clamp(110, 420)
}

/// Splits `area` into the chart and a legend column `width` pixels wide on its right.
pub fn with_legend<'a>(area: &Area<'a>, entries: &[Entry], width: u32) -> DrawResult<Area<'a>> {
    let (w, _) = area.dim_in_pixel();
    let (chart, legend) = area.split_horizontally(w.saturating_sub(width));
    let font = (FONT, LABEL_SIZE).into_font();
    for (i, e) in entries.iter().enumerate() {
        let y = 40 + i as i32 * 22;
        match e.mark {
            Mark::Bar => {
                legend.draw(&Rectangle::new([(8, y - 6), (26, y + 6)], e.color.filled()))?
            }
            Mark::Line => {
                legend.draw(&PathElement::new(
                    [(6, y), (28, y)],
                    e.color.stroke_width(2),
                ))?;
                legend.draw(&Circle::new((17, y), 3, e.color.filled()))?;
            }
            Mark::Dashed => {
                for x in [6, 14, 22] {
                    legend.draw(&PathElement::new(
                        [(x, y), (x + 5, y)],
                        e.color.stroke_width(2),
                    ))?;
                }
            }
        }
        legend.draw(&Text::new(e.label.clone(), (34, y - 7), font.clone()))?;
    }
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subtitle_names_the_records_cpus() {
        let parse = |file: &str, text: &str| {
            ringgroup_results::parse_run(file, text, &mut Vec::new()).unwrap()
        };
        let labelled = parse(
            "2026-12-02T000000Z-suite.json",
            r#"{"date": "2026-12-02 00:00:00 UTC", "machine": {"cpu": "Machine CPU", "cores": 2},
              "records": [{"scenario": "compare/spsc", "system": "rtrb", "cpu": "Record CPU",
                           "figures": {"mmsgs_per_s": 1}}]}"#,
        );
        let old = parse(
            "2026-11-22T000000Z-suite.json",
            r#"{"date": "2026-11-22 00:00:00 UTC", "machine": {"cpu": "Old CPU"},
              "records": [{"scenario": "compare/spsc", "system": "rtrb",
                           "figures": {"mmsgs_per_s": 1}}]}"#,
        );
        let unknown = parse("x.json", r#"{"records": []}"#);
        assert_eq!(
            subtitle(&[&labelled, &old, &unknown]),
            "CPU: Old CPU | Record CPU (2 cores) | unknown · runs 2026-11-22 00:00:00 UTC … x.json \
             (3 files)"
        );
    }

    #[test]
    fn the_floor_has_its_own_colour_and_label_and_the_peers_keep_theirs() {
        assert_eq!(system_color("floor", &[]), FLOOR);
        assert!(PALETTE.iter().all(|c| *c != FLOOR));
        assert!(system_label("floor").starts_with("floor (reference"));
        assert_eq!(system_label("rtrb"), "rtrb");
        // Colours from before the floor existed are unchanged.
        for (i, s) in SYSTEMS.iter().take(6).enumerate() {
            assert_eq!(system_color(s, &[]), palette(i));
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(512.3), "512");
        assert_eq!(fmt_num(9.87), "9.87");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(20_000.0), "20k");
        assert_eq!(fmt_num(1_500_000.0), "1.5M");
        assert_eq!(fmt_ns(310.0), "310 ns");
        assert_eq!(fmt_ns(1_250.0), "1.25 µs");
        assert_eq!(fmt_ns(3_000_000.0), "3 ms");
    }

    #[test]
    fn axes_cover_the_data_with_round_ticks() {
        let log = Axis::log10(9.5, 512.0);
        assert_eq!((log.lo, log.hi), (5f64.log10(), 3.0));
        assert_eq!(log.ticks, [1.0, 2.0, 3.0]);
        let fine = Axis::log10(300.0, 700.0);
        assert_eq!((fine.lo, fine.hi), (2.0 + 2f64.log10(), 3.0));
        assert_eq!(fine.ticks.len(), 3, "200, 500, 1000: {:?}", fine.ticks);
        let one = Axis::log10(100.0, 100.0);
        assert!(one.lo < one.hi && one.ticks.len() == 2, "{one:?}");
        let lin = Axis::linear(3.0, 97.0, true);
        assert_eq!(lin.lo, 0.0);
        assert!(lin.hi >= 97.0);
        assert_eq!(&lin.ticks[..3], [0.0, 20.0, 40.0]);
        let flat = Axis::linear(5.0, 5.0, false);
        assert!(flat.lo < 5.0 && flat.hi > 5.0);
        let nothing = Axis::log10(0.0, f64::NAN);
        assert!(nothing.lo < nothing.hi);
    }
}
