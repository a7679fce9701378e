//! `latency.svg`: latency against percentile, one line per (scenario, system) of `latency/*`,
//! `compare/ping-pong` and `reply/round-trip`, ns on a log scale against the "number of nines" axis
//! (x = -log10(1 - p/100): 90% at 1, 99% at 2, 99.9% at 3). The line is the record's
//! `percentile_curve_ns` (`[[percentile, ns], ...]`, 100 being the maximum); without one, its
//! scalar figures `p50_ns`, `p90_ns`, `p99_ns`, `p99_9_ns`, `p99_99_ns`, `min_ns` and `max_ns`.
//! The 100th percentile (the maximum) has no place on a nines axis, so it sits one step past the
//! last whole nine, labelled `max`, joined by a dashed segment.

use std::path::Path;

use plotters::prelude::*;

use super::{
    chart_on, draw_mesh, fmt_ns, legend_width, page, palette, param_suffix, sources, system_color,
    system_label, varying_params, with_legend, Axis, DrawResult, Entry, Mark, MeshSpec, Outcome,
    FLOOR,
};
use ringgroup_results::names::{chart, scenario, system};
use ringgroup_results::{newest, Record, SavedRun};

/// Where a percentile goes on the x axis: `-log10(1 - p/100)`, for `0 <= p < 100`.
pub fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

/// The label of the tick at `n` whole nines: `90%`, `99%`, `99.9%`, `99.99%`, ...
pub fn nines_label(n: u32) -> String {
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        _ => format!("99.{}%", "9".repeat(n as usize - 2)).replace(".%", "%"),
    }
}

/// A point of a latency distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum At {
    /// The `p`th percentile, `0 <= p < 100`.
    Percentile(f64),
    /// The maximum.
    Max,
}

/// Which percentile a scalar figure holds: `p50_ns` → 50, `p99_9_ns` (or `p999_ns`) → 99.9,
/// `p99_99_ns` (or `p9999_ns`) → 99.99, `min_ns` → 0, `max_ns` → the maximum. Spreads
/// (`p99_ns_max`) and other figures are `None`.
pub fn percentile_key(key: &str) -> Option<At> {
    match key {
        "max_ns" | "p100_ns" => return Some(At::Max),
        "min_ns" => return Some(At::Percentile(0.0)),
        _ => {}
    }
    let digits = key.strip_prefix('p')?.strip_suffix("_ns")?;
    let (whole, fraction) = match digits.split_once('_') {
        Some((whole, fraction)) => (whole, fraction),
        // Without a separator the first two digits are whole percents: 999 → 99.9.
        None if digits.len() > 2 => digits.split_at(2),
        None => (digits, ""),
    };
    let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !numeric(whole) || !numeric(fraction) {
        return None;
    }
    let p: f64 = format!("{whole}.{fraction}0").parse().ok()?;
    (p < 100.0).then_some(At::Percentile(p))
}

/// One line: points in (nines, ns) and the maximum, if known.
struct Line {
    label: String,
    system: String,
    points: Vec<(f64, f64)>,
    max_ns: Option<f64>,
    /// Drawn from a handful of scalar figures: mark each point.
    sparse: bool,
}

/// The points of one record, from its curve or else its scalar percentiles; `Err` says why
/// there are none.
fn points_of(r: &Record, notes: &mut Vec<String>) -> Result<(Vec<(At, f64)>, bool), String> {
    let keep = |at: At, ns: f64| {
        let p_ok = match at {
            At::Percentile(p) => (0.0..100.0).contains(&p),
            At::Max => true,
        };
        p_ok && ns > 0.0 && ns.is_finite()
    };
    match r.pairs("percentile_curve_ns") {
        Some(Ok(pairs)) => {
            let total = pairs.len();
            let points: Vec<(At, f64)> = pairs
                .into_iter()
                .map(|(p, ns)| {
                    (
                        if p >= 100.0 {
                            At::Max
                        } else {
                            At::Percentile(p)
                        },
                        ns,
                    )
                })
                .filter(|(at, ns)| keep(*at, *ns))
                .collect();
            if points.len() < total {
                notes.push(format!(
                    "latency.svg: {}: left out {} curve points outside 0..=100 % or not above 0 ns",
                    r.name(),
                    total - points.len()
                ));
            }
            if !points.is_empty() {
                return Ok((points, false));
            }
            notes.push(format!(
                "latency.svg: {}: percentile_curve_ns has no usable point",
                r.name()
            ));
        }
        Some(Err(e)) => notes.push(format!(
            "latency.svg: {}: {e} (using the scalar percentiles)",
            r.name()
        )),
        None => {}
    }
    let points: Vec<(At, f64)> = r
        .figures
        .keys()
        .filter_map(|k| Some((percentile_key(k)?, r.num(k)?)))
        .filter(|(at, ns)| keep(*at, *ns))
        .collect();
    if points.is_empty() {
        Err("no percentile_curve_ns and no p<NN>_ns figures".into())
    } else {
        Ok((points, true))
    }
}

/// Draws the chart into `dir/latency.svg`.
pub fn draw(runs: &[SavedRun], dir: &Path, notes: &mut Vec<String>) -> DrawResult<Outcome> {
    let picked = newest(runs, |s| {
        scenario::is_of(s, scenario::LATENCY)
            || s == scenario::COMPARE_PING_PONG
            || s == scenario::of(scenario::REPLY, "round-trip")
    });
    let records: Vec<&Record> = picked.iter().map(|(_, r)| *r).collect();
    let mut lines = Vec::new();
    let mut used = Vec::new();
    for (run, r) in &picked {
        let (points, sparse) = match points_of(r, notes) {
            Ok(found) => found,
            Err(why) => {
                notes.push(format!("latency.svg: left out {}: {why}", r.name()));
                continue;
            }
        };
        let same: Vec<&Record> = records
            .iter()
            .copied()
            .filter(|o| o.scenario == r.scenario && o.system == r.system)
            .collect();
        let mut line = Line {
            label: format!(
                "{} · {}{}",
                r.scenario,
                system_label(&r.system),
                param_suffix(r, &varying_params(&same, &[]))
            ),
            system: r.system.clone(),
            points: Vec::new(),
            max_ns: None,
            sparse,
        };
        for (at, ns) in points {
            match at {
                At::Percentile(p) => line.points.push((nines(p), ns)),
                At::Max => line.max_ns = Some(line.max_ns.map_or(ns, |m: f64| m.max(ns))),
            }
        }
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.push(line);
        used.push(*run);
    }
    if lines.is_empty() {
        return Ok(Outcome::Skipped(
            "latency.svg: no latency/*, compare/ping-pong or reply/round-trip record with \
             percentiles"
                .into(),
        ));
    }

    // x: whole nines up to the deepest point (at least 99%), then the maximum one step on.
    let deepest = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.0)
        .fold(0.0, f64::max);
    let top = (deepest - 1e-6).ceil().clamp(2.0, 12.0); // 99.9% may come out as 3.0000000000000004
    let has_max = lines.iter().any(|l| l.max_ns.is_some());
    let max_x = top + 1.0;
    let mut ticks: Vec<f64> = Vec::new();
    if lines.iter().flat_map(|l| &l.points).any(|p| p.0 < 0.15) {
        ticks.push(0.0);
    }
    ticks.push(nines(50.0));
    ticks.extend((1..=top as u32).map(f64::from));
    if has_max {
        ticks.push(max_x);
    }
    let x_hi = if has_max { max_x } else { top } + 0.15;
    let x_label = |x: &f64| {
        if has_max && (x - max_x).abs() < 1e-9 {
            "max".to_owned()
        } else if (x - nines(50.0)).abs() < 1e-9 {
            "50%".to_owned()
        } else {
            nines_label(x.round().max(0.0) as u32)
        }
    };

    let all_ns = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1).chain(l.max_ns));
    let low = all_ns.clone().fold(f64::INFINITY, f64::min);
    let high = all_ns.fold(0.0, f64::max);
    let y = Axis::log10(low, high * 1.05); // the top marker whole
    let y_label = |t: &f64| fmt_ns(10f64.powf(*t));

    let distinct_systems = {
        let mut s: Vec<&str> = lines.iter().map(|l| l.system.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s.len() == lines.len()
    };
    let others: Vec<String> = lines.iter().map(|l| l.system.clone()).collect();
    let colors: Vec<RGBColor> = (0..lines.len())
        .map(|i| {
            if lines[i].system == system::FLOOR {
                FLOOR
            } else if distinct_systems {
                system_color(&lines[i].system, &others)
            } else {
                palette(i)
            }
        })
        .collect();

    let path = dir.join(chart::LATENCY);
    let area = page(&path, (1100, 640), "Latency percentiles", &sources(used))?;
    let mut entries: Vec<Entry> = lines
        .iter()
        .zip(&colors)
        .map(|(l, c)| Entry {
            label: l.label.clone(),
            color: *c,
            mark: Mark::Line,
        })
        .collect();
    if has_max {
        entries.push(Entry {
            label: "→ max (dashed)".into(),
            color: RGBColor(120, 120, 120),
            mark: Mark::Dashed,
        });
    }
    let area = with_legend(&area, &entries, legend_width(&entries))?;
    let mut chart = chart_on(&area, None, 70, Axis::ticked(0.0, x_hi, ticks), y.clone())?;
    let spec = MeshSpec {
        x_desc: "percentile",
        y_desc: "latency (log scale)",
        x_mesh: true,
        light: Some(RGBColor(238, 238, 238)),
    };
    draw_mesh(&mut chart, spec, &x_label, &y_label)?;

    for (line, color) in lines.iter().zip(&colors) {
        let pts: Vec<(f64, f64)> = line.points.iter().map(|(x, ns)| (*x, ns.log10())).collect();
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?;
        if line.sparse || pts.len() == 1 {
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        if let Some(max) = line.max_ns {
            let end = (max_x, max.log10());
            if let Some(last) = pts.last() {
                let style = color.stroke_width(2);
                chart.draw_series(DashedLineSeries::new([*last, end], 8, 5, style))?;
            }
            chart.draw_series([Circle::new(end, 4, color.filled())])?;
        }
    }
    area.present()?;
    Ok(Outcome::Written(path.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_puts_each_nine_one_step_further() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(50.0) - 2f64.log10()).abs() < 1e-12);
        for (p, n) in [
            (90.0, 1.0),
            (99.0, 2.0),
            (99.9, 3.0),
            (99.99, 4.0),
            (99.999, 5.0),
        ] {
            assert!((nines(p) - n).abs() < 1e-9, "{p} → {}", nines(p));
        }
        let labels: Vec<String> = (0..=5).map(nines_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn scalar_percentile_keys() {
        assert_eq!(percentile_key("p50_ns"), Some(At::Percentile(50.0)));
        assert_eq!(percentile_key("p99_ns"), Some(At::Percentile(99.0)));
        assert_eq!(percentile_key("p999_ns"), Some(At::Percentile(99.9)));
        assert_eq!(percentile_key("p99_9_ns"), Some(At::Percentile(99.9)));
        assert_eq!(percentile_key("p99_99_ns"), Some(At::Percentile(99.99)));
        assert_eq!(percentile_key("p9999_ns"), Some(At::Percentile(99.99)));
        assert_eq!(percentile_key("p100_ns"), Some(At::Max));
        assert_eq!(percentile_key("max_ns"), Some(At::Max));
        assert_eq!(percentile_key("min_ns"), Some(At::Percentile(0.0)));
        for not in [
            "p99_ns_max",
            "p99_ratio_vs_rtrb",
            "mmsgs_per_s",
            "p_ns",
            "px_ns",
        ] {
            assert_eq!(percentile_key(not), None, "{not}");
        }
    }
}
