//! `throughput.svg`: M msg/s per system on each `compare` stream case (`compare/spsc`,
//! `compare/spsc-drain`, `compare/spsc-batch`, `compare/fanout-3`, `compare/mpsc`, `compare/mpmc`, then any other
//! case that reports `mmsgs_per_s`), as grouped bars on a log scale (bus runs near 10 M msg/s,
//! batched rings near 500 M), the median with a whisker from `_min` to `_max`. Files recorded
//! before a case existed simply have no bars for it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    chart_on, draw_mesh, fmt_num, legend_width, page, sources, system_color, system_order,
    with_legend, Axis, DrawResult, Entry, Mark, MeshSpec, Outcome, FONT,
};
use ringgroup_results::names::{chart, scenario};
use ringgroup_results::{newest, SavedRun};

/// The stream cases of `compare`, in chart order (others follow by name): every case but
/// ping-pong.
fn cases_in_order() -> Vec<String> {
    scenario::COMPARE_STREAM_CASES
        .iter()
        .map(|case| scenario::of(scenario::COMPARE, case))
        .collect()
}

/// One bar: a system's median on a case and its spread over runs.
struct Bar {
    system: String,
    median: f64,
    min: f64,
    max: f64,
}

/// Draws the chart into `dir/throughput.svg`.
pub fn draw(runs: &[SavedRun], dir: &Path, notes: &mut Vec<String>) -> DrawResult<Outcome> {
    let picked = newest(runs, |s| scenario::is_of(s, scenario::COMPARE));
    let mut cases: Vec<(String, Vec<Bar>)> = Vec::new();
    let mut used = Vec::new();
    for (run, r) in &picked {
        let Some(median) = r.num("mmsgs_per_s") else {
            if r.figures.keys().any(|k| k.starts_with("mmsgs_per_s")) {
                notes.push(format!(
                    "throughput.svg: left out {}: mmsgs_per_s is not a number",
                    r.name()
                ));
            }
            continue; // ping-pong and other latency cases carry no throughput
        };
        if median <= 0.0 {
            notes.push(format!(
                "throughput.svg: left out {}: mmsgs_per_s {median} cannot go on a log scale",
                r.name()
            ));
            continue;
        }
        let case = match cases.iter().position(|(c, _)| *c == r.scenario) {
            Some(i) => i,
            None => {
                cases.push((r.scenario.clone(), Vec::new()));
                cases.len() - 1
            }
        };
        if cases[case].1.iter().any(|b| b.system == r.system) {
            notes.push(format!(
                "throughput.svg: {}: more than one record, charting the first",
                r.name()
            ));
            continue;
        }
        // A spread that does not bracket the median is ignored rather than drawn wrong.
        let min = r
            .num("mmsgs_per_s_min")
            .filter(|m| *m > 0.0 && *m <= median)
            .unwrap_or(median);
        let max = r
            .num("mmsgs_per_s_max")
            .filter(|m| *m >= median)
            .unwrap_or(median);
        cases[case].1.push(Bar {
            system: r.system.clone(),
            median,
            min,
            max,
        });
        used.push(*run);
    }
    if cases.is_empty() {
        return Ok(Outcome::Skipped(
            "throughput.svg: no compare/* record with mmsgs_per_s in the saved results".into(),
        ));
    }
    let order = cases_in_order();
    let rank = |c: &str| order.iter().position(|k| k == c).unwrap_or(order.len());
    cases.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    for (_, bars) in &mut cases {
        bars.sort_by(|a, b| system_order(&a.system, &b.system));
    }

    let mut systems: Vec<String> = Vec::new();
    for bar in cases.iter().flat_map(|(_, bars)| bars) {
        if !systems.contains(&bar.system) {
            systems.push(bar.system.clone());
        }
    }
    systems.sort_by(|a, b| system_order(a, b));
    let others: Vec<String> = systems
        .iter()
        .filter(|s| !super::SYSTEMS.contains(&s.as_str()))
        .cloned()
        .collect();
    let color = |s: &str| system_color(s, &others);

    let path = dir.join(chart::THROUGHPUT);
    let area = page(
        &path,
        (1100, 620),
        "Throughput per system (compare)",
        &sources(used),
    )?;
    let entries: Vec<Entry> = systems
        .iter()
        .map(|s| Entry {
            label: super::system_label(s),
            color: color(s),
            mark: Mark::Bar,
        })
        .collect();
    let area = with_legend(&area, &entries, legend_width(&entries))?;

    let all = cases.iter().flat_map(|(_, bars)| bars);
    let low = all.clone().map(|b| b.min).fold(f64::INFINITY, f64::min);
    let high = all.map(|b| b.max).fold(0.0, f64::max);
    let y = Axis::log10(low, high * 1.6); // room for the value labels
    let names: Vec<String> = cases
        .iter()
        .map(|(c, _)| c.trim_start_matches("compare/").to_owned())
        .collect();
    let centres: Vec<f64> = (0..cases.len()).map(|i| i as f64 + 0.5).collect();
    let x_label = |x: &f64| {
        names
            .get(x.floor().max(0.0) as usize)
            .cloned()
            .unwrap_or_default()
    };
    let y_label = |t: &f64| fmt_num(10f64.powf(*t));

    let mut chart = chart_on(
        &area,
        None,
        65,
        Axis::ticked(0.0, cases.len() as f64, centres),
        y.clone(),
    )?;
    let spec = MeshSpec {
        x_desc: "case (bar: median over runs; whisker: min–max)",
        y_desc: "M msg/s (log scale)",
        x_mesh: false,
        light: Some(RGBColor(238, 238, 238)),
    };
    draw_mesh(&mut chart, spec, &x_label, &y_label)?;

    let value_font =
        TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, (_, bars)) in cases.iter().enumerate() {
        let width = 0.8 / bars.len() as f64;
        for (j, bar) in bars.iter().enumerate() {
            let left = i as f64 + 0.1 + j as f64 * width;
            let (x0, x1, xc) = (left + width * 0.06, left + width * 0.94, left + width / 2.0);
            let c = color(&bar.system);
            let t = |v: f64| v.log10();
            chart.draw_series([Rectangle::new(
                [(x0, y.lo), (x1, t(bar.median))],
                c.filled(),
            )])?;
            let cap = width * 0.18;
            let whisker = BLACK.stroke_width(1);
            chart.draw_series([
                PathElement::new(vec![(xc, t(bar.min)), (xc, t(bar.max))], whisker),
                PathElement::new(
                    vec![(xc - cap, t(bar.min)), (xc + cap, t(bar.min))],
                    whisker,
                ),
                PathElement::new(
                    vec![(xc - cap, t(bar.max)), (xc + cap, t(bar.max))],
                    whisker,
                ),
            ])?;
            let label_at = t(bar.max) + (y.hi - y.lo) * 0.01;
            chart.draw_series([Text::new(
                fmt_num(bar.median),
                (xc, label_at),
                value_font.clone(),
            )])?;
        }
    }
    area.present()?;
    Ok(Outcome::Written(path.clone()))
}
