//! `handoff.svg`: the rebalance handoff times (membership change → the new owner's first
//! message) as a histogram, one panel per `rebalance` record, from `handoff_histogram_us`
//! (`[[bucket_lower_us, count], ...]`; a bucket ends where the next begins, the last at the next
//! 1-2-5 step, or one more step of the buckets' ratio or width). p50 and p99
//! (`handoff_p50_us`, `handoff_p99_us`) are marked when present. Buckets spanning 50× or more go
//! on a log x axis (a bucket starting at 0 is drawn from half its upper bound).

use std::path::Path;

use plotters::prelude::*;

use super::{
    chart_on, draw_mesh, fmt_ns, fmt_num, legend_width, page, param_suffix, sources,
    varying_params, with_legend, Area, Axis, DrawResult, Entry, Mark, MeshSpec, Outcome, FONT,
    LABEL_SIZE,
};
use ringgroup_results::names::{chart, scenario};
use ringgroup_results::{newest, Record, SavedRun};

/// At most this many panels; the rest are noted.
const MAX_PANELS: usize = 6;

/// One bucket: from, to (µs), count.
type Bucket = (f64, f64, f64);

/// One panel: a record's histogram and markers.
struct Panel {
    title: String,
    buckets: Vec<Bucket>,
    markers: Vec<(&'static str, f64)>,
}

/// The buckets of `pairs` (`[bucket_lower_us, count]`), sorted and merged, from the first
/// non-empty one to the last; `Err` says why they cannot be drawn.
pub fn buckets(pairs: &[(f64, f64)]) -> Result<Vec<Bucket>, String> {
    if let Some((lower, count)) = pairs.iter().find(|(l, c)| *l < 0.0 || *c < 0.0) {
        return Err(format!("negative bucket [{lower}, {count}]"));
    }
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (lower, count) in sorted {
        match merged.last_mut() {
            Some(last) if last.0 == lower => last.1 += count,
            _ => merged.push((lower, count)),
        }
    }
    if merged.iter().all(|b| b.1 == 0.0) {
        return Err("every bucket is empty".into());
    }
    let n = merged.len();
    let lowers: Vec<f64> = merged.iter().map(|b| b.0).collect();
    let mut out = Vec::with_capacity(n);
    for (i, &(lower, count)) in merged.iter().enumerate() {
        let upper = lowers
            .get(i + 1)
            .copied()
            .unwrap_or_else(|| last_upper(&lowers));
        out.push((lower, upper, count));
    }
    // Empty buckets at either end only widen the axis.
    let first = out.iter().position(|b| b.2 > 0.0).unwrap_or(0);
    let last = out.iter().rposition(|b| b.2 > 0.0).unwrap_or(0);
    Ok(out[first..=last].to_vec())
}

/// Where the last bucket ends: the next 1-2-5 step when the buckets are 1-2-5 steps (the
/// harness's), else one more step of the same ratio (geometric buckets) or width.
fn last_upper(lowers: &[f64]) -> f64 {
    let n = lowers.len();
    let last = lowers[n - 1];
    let positive: Vec<f64> = lowers.iter().copied().filter(|l| *l > 0.0).collect();
    if !positive.is_empty() && positive.iter().all(|l| next_125(*l).is_some()) {
        return next_125(last).unwrap_or(last * 2.0);
    }
    if n >= 3 && lowers[n - 3] > 0.0 {
        let (r1, r2) = (lowers[n - 2] / lowers[n - 3], last / lowers[n - 2]);
        if (r1 - r2).abs() <= r2 * 0.01 {
            return last * r2;
        }
    }
    match n {
        1 => last.max(1.0) * 2.0,
        _ => last + (last - lowers[n - 2]),
    }
}

/// The 1-2-5 step after `x`, when `x` is one (`1`, `2`, `5` × a power of ten).
fn next_125(x: f64) -> Option<f64> {
    if !(x > 0.0 && x.is_finite()) {
        return None;
    }
    let power = 10f64.powf(x.log10().floor());
    let m = x / power;
    [(1.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 20.0)]
        .into_iter()
        .find(|(step, _)| (m - step).abs() < 1e-6 * step)
        .map(|(_, next)| next * power)
}

/// Draws the chart into `dir/handoff.svg`.
pub fn draw(runs: &[SavedRun], dir: &Path, notes: &mut Vec<String>) -> DrawResult<Outcome> {
    let picked = newest(runs, |s| scenario::is_of(s, scenario::REBALANCE));
    let all: Vec<&Record> = picked.iter().map(|(_, r)| *r).collect();
    let apart = varying_params(&all, &[]);
    let mut panels = Vec::new();
    let mut used = Vec::new();
    for (run, r) in &picked {
        let pairs = match r.pairs("handoff_histogram_us") {
            Some(Ok(pairs)) => pairs,
            Some(Err(e)) => {
                notes.push(format!("handoff.svg: left out {}: {e}", r.name()));
                continue;
            }
            None => {
                notes.push(format!(
                    "handoff.svg: left out {}: no handoff_histogram_us",
                    r.name()
                ));
                continue;
            }
        };
        let buckets = match buckets(&pairs) {
            Ok(b) => b,
            Err(e) => {
                notes.push(format!(
                    "handoff.svg: left out {}: handoff_histogram_us: {e}",
                    r.name()
                ));
                continue;
            }
        };
        if panels.len() == MAX_PANELS {
            notes.push(format!(
                "handoff.svg: left out {}: more than {MAX_PANELS} histograms",
                r.name()
            ));
            continue;
        }
        let markers = [("p50", "handoff_p50_us"), ("p99", "handoff_p99_us")]
            .into_iter()
            .filter_map(|(name, key)| Some((name, r.num(key).filter(|v| *v >= 0.0)?)))
            .collect();
        panels.push(Panel {
            title: format!("{}{}", r.name(), param_suffix(r, &apart)),
            buckets,
            markers,
        });
        used.push(*run);
    }
    if panels.is_empty() {
        return Ok(Outcome::Skipped(
            "handoff.svg: no rebalance record with handoff_histogram_us in the saved results"
                .into(),
        ));
    }
    let path = dir.join(chart::HANDOFF);
    let height = 90 + 340 * panels.len() as u32;
    let area = page(
        &path,
        (1100, height),
        "Rebalance handoff times",
        &sources(used),
    )?;
    let cells = area.split_evenly((panels.len(), 1));
    let legends: Vec<Vec<Entry>> = panels.iter().map(legend).collect();
    let width = legend_width(legends.iter().flatten());
    for ((panel, cell), entries) in panels.iter().zip(&cells).zip(&legends) {
        let area = with_legend(cell, entries, width)?;
        draw_panel(panel, &area)?;
    }
    area.present()?;
    Ok(Outcome::Written(path.clone()))
}

const BARS: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const P50: RGBColor = RGBColor(0x59, 0xa1, 0x4f);
const P99: RGBColor = RGBColor(0xe1, 0x57, 0x59);

fn marker_color(name: &str) -> RGBColor {
    if name == "p50" {
        P50
    } else {
        P99
    }
}

/// A panel's legend: the bars and each marker with its value.
fn legend(panel: &Panel) -> Vec<Entry> {
    let mut entries = vec![Entry {
        label: "handoffs per bucket".into(),
        color: BARS,
        mark: Mark::Bar,
    }];
    for (name, v) in &panel.markers {
        let label = format!("{name} = {}", fmt_ns(v * 1e3));
        entries.push(Entry {
            label,
            color: marker_color(name),
            mark: Mark::Dashed,
        });
    }
    entries
}

fn draw_panel(panel: &Panel, area: &Area) -> DrawResult<()> {
    let first_positive = panel.buckets.iter().map(|b| b.0).find(|l| *l > 0.0);
    let last_upper = panel.buckets.last().map_or(1.0, |b| b.1);
    let log = first_positive.is_some_and(|lo| last_upper / lo >= 50.0);
    // On a log axis a bucket starting at 0 is drawn from half its upper bound.
    let from = |b: &Bucket| if log && b.0 <= 0.0 { b.1 / 2.0 } else { b.0 };
    let marks = panel
        .markers
        .iter()
        .map(|m| m.1)
        .filter(|v| !log || *v > 0.0);
    let lo = panel
        .buckets
        .iter()
        .map(from)
        .chain(marks.clone())
        .fold(f64::INFINITY, f64::min);
    let hi = panel
        .buckets
        .iter()
        .map(|b| b.1)
        .chain(marks)
        .fold(0.0, f64::max);
    let (x_axis, tx): (Axis, fn(f64) -> f64) = if log {
        (Axis::log10(lo, hi), f64::log10)
    } else {
        (Axis::linear(lo, hi, true), |x| x)
    };
    let x_label = |t: &f64| fmt_ns(if log { 10f64.powf(*t) } else { *t } * 1e3);
    let top = panel.buckets.iter().map(|b| b.2).fold(0.0, f64::max);
    let y_axis = Axis::linear(0.0, top, true);
    let y_label = |v: &f64| fmt_num(*v);

    let mut chart = chart_on(area, Some(&panel.title), 60, x_axis.clone(), y_axis.clone())?;
    let spec = MeshSpec {
        x_desc: if log {
            "handoff time (log scale)"
        } else {
            "handoff time"
        },
        y_desc: "handoffs",
        x_mesh: false,
        light: None,
    };
    draw_mesh(&mut chart, spec, &x_label, &y_label)?;

    chart.draw_series(panel.buckets.iter().filter(|b| b.2 > 0.0).map(|b| {
        Rectangle::new(
            [(tx(from(b)), 0.0), (tx(b.1), b.2)],
            BARS.mix(0.85).filled(),
        )
    }))?;
    chart.draw_series(
        panel
            .buckets
            .iter()
            .filter(|b| b.2 > 0.0)
            .map(|b| Rectangle::new([(tx(from(b)), 0.0), (tx(b.1), b.2)], WHITE.stroke_width(1))),
    )?;
    for (name, v) in &panel.markers {
        if log && *v <= 0.0 {
            continue;
        }
        let x = tx(*v);
        let style = marker_color(name).stroke_width(2);
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, y_axis.hi)],
            6,
            4,
            style,
        ))?;
        let font = (FONT, LABEL_SIZE).into_font().color(&marker_color(name));
        let label = EmptyElement::at((x, y_axis.hi)) + Text::new(name.to_string(), (4, 0), font);
        chart.draw_series([label])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_end_where_the_next_begins() {
        let b = buckets(&[(4.0, 1.0), (1.0, 5.0), (2.0, 3.0), (2.0, 1.0)]).unwrap();
        assert_eq!(b, [(1.0, 2.0, 5.0), (2.0, 4.0, 4.0), (4.0, 8.0, 1.0)]);
        assert_eq!(buckets(&[(0.0, 3.0)]).unwrap(), [(0.0, 2.0, 3.0)]);
        let trimmed = buckets(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0), (5.0, 1.0), (10.0, 0.0)]);
        assert_eq!(
            trimmed.unwrap(),
            [(1.0, 2.0, 2.0), (2.0, 5.0, 0.0), (5.0, 10.0, 1.0)]
        );
        // The harness's 1-2-5 buckets, and geometric ones.
        let b = buckets(&[
            (0.0, 1.0),
            (1.0, 1.0),
            (2.0, 1.0),
            (5.0, 1.0),
            (10.0, 1.0),
            (20.0, 1.0),
        ])
        .unwrap();
        assert_eq!(b.last(), Some(&(20.0, 50.0, 1.0)));
        let b = buckets(&[(1.0, 1.0), (1.5, 1.0), (2.25, 1.0)]).unwrap();
        assert_eq!(b.last(), Some(&(2.25, 3.375, 1.0)));
        assert!(buckets(&[(1.0, 0.0)]).is_err());
        assert!(buckets(&[(1.0, -1.0)]).is_err());
        assert!(buckets(&[]).is_err());
    }
}
