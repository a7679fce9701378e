//! `scale.svg`: the scale curves, one panel per series (`scale/partitions`, `scale/groups`,
//! `scale/members`, then any other `scale/<param>`): x is the parameter the series varies, y is
//! M msg/s published (solid, median with min–max whiskers) and, where it differs, M deliveries/s
//! (`deliveries_mmsgs_per_s`, dashed: published × groups). x is log2 when it spans 8× or more.

use std::path::Path;

use plotters::prelude::*;

use super::{
    chart_on, draw_mesh, fmt_num, legend_width, page, param_suffix, sources, system_color,
    system_order, varying_params, with_legend, Area, Axis, DrawResult, Entry, Mark, MeshSpec,
    Outcome,
};
use ringgroup_results::names::{chart, scenario};
use ringgroup_results::{newest, Record, SavedRun};

/// The series in chart order; others follow by name.
const SERIES: [&str; 3] = scenario::SCALE_SERIES;

/// One point: x, then the median, min and max of a figure.
type Point = (f64, f64, f64, f64);

/// One line of a panel.
struct Line {
    label: String,
    system: String,
    published: Vec<Point>,
    deliveries: Vec<Point>,
}

/// One panel: a series and its lines.
struct Panel {
    scenario: String,
    param: String,
    lines: Vec<Line>,
}

/// A figure's median, min and max, the spread ignored when it does not bracket the median.
fn spread(r: &Record, key: &str) -> Option<(f64, f64, f64)> {
    let m = r.num(key)?;
    let lo = r
        .num(&format!("{key}_min"))
        .filter(|v| *v <= m)
        .unwrap_or(m);
    let hi = r
        .num(&format!("{key}_max"))
        .filter(|v| *v >= m)
        .unwrap_or(m);
    Some((m, lo, hi))
}

/// Draws the chart into `dir/scale.svg`.
pub fn draw(runs: &[SavedRun], dir: &Path, notes: &mut Vec<String>) -> DrawResult<Outcome> {
    let picked = newest(runs, |s| scenario::is_of(s, scenario::SCALE));
    let mut panels: Vec<Panel> = Vec::new();
    let mut used = Vec::new();
    let mut scenarios: Vec<&str> = picked.iter().map(|(_, r)| r.scenario.as_str()).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let param = scenario.trim_start_matches("scale/").to_owned();
        let records: Vec<(&SavedRun, &Record)> = picked
            .iter()
            .filter(|(_, r)| r.scenario == scenario)
            .copied()
            .collect();
        let all: Vec<&Record> = records.iter().map(|(_, r)| *r).collect();
        // Parameters that move with x (members = partitions) do not make separate lines; those
        // that differ at the same x and system do.
        let apart: Vec<String> = varying_params(&all, &[&param])
            .into_iter()
            .filter(|k| {
                all.iter().any(|a| {
                    all.iter().any(|b| {
                        a.system == b.system
                            && a.params.get(&param) == b.params.get(&param)
                            && a.params.get(k) != b.params.get(k)
                    })
                })
            })
            .collect();
        let mut lines: Vec<Line> = Vec::new();
        for (run, r) in records {
            let Some(x) = r.param_num(&param) else {
                notes.push(format!(
                    "scale.svg: left out {}: no numeric parameter {param:?}",
                    r.name()
                ));
                continue;
            };
            let Some((m, lo, hi)) = spread(r, "mmsgs_per_s") else {
                notes.push(format!("scale.svg: left out {}: no mmsgs_per_s", r.name()));
                continue;
            };
            let label = format!("{}{}", r.system, param_suffix(r, &apart));
            let i = match lines.iter().position(|l| l.label == label) {
                Some(i) => i,
                None => {
                    lines.push(Line {
                        label,
                        system: r.system.clone(),
                        published: Vec::new(),
                        deliveries: Vec::new(),
                    });
                    lines.len() - 1
                }
            };
            lines[i].published.push((x, m, lo, hi));
            if let Some((d, dlo, dhi)) = spread(r, "deliveries_mmsgs_per_s") {
                lines[i].deliveries.push((x, d, dlo, dhi));
            }
            used.push(run);
        }
        for line in &mut lines {
            line.published.sort_by(|a, b| a.0.total_cmp(&b.0));
            line.deliveries.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Deliveries equal publications with one group: drawn once is enough.
            let same = line.deliveries.len() == line.published.len()
                && line
                    .deliveries
                    .iter()
                    .zip(&line.published)
                    .all(|(d, p)| (d.1 - p.1).abs() <= p.1.abs() * 0.005);
            if same {
                line.deliveries.clear();
            }
        }
        lines
            .sort_by(|a, b| system_order(&a.system, &b.system).then_with(|| a.label.cmp(&b.label)));
        if lines.is_empty() {
            notes.push(format!("scale.svg: left out {scenario}: no usable record"));
        } else {
            panels.push(Panel {
                scenario: scenario.to_owned(),
                param,
                lines,
            });
        }
    }
    if panels.is_empty() {
        return Ok(Outcome::Skipped(
            "scale.svg: no scale/* record with mmsgs_per_s in the saved results".into(),
        ));
    }
    let rank = |s: &str| SERIES.iter().position(|k| *k == s).unwrap_or(SERIES.len());
    panels.sort_by(|a, b| {
        rank(&a.scenario)
            .cmp(&rank(&b.scenario))
            .then_with(|| a.scenario.cmp(&b.scenario))
    });

    let path = dir.join(chart::SCALE);
    let height = 90 + 360 * panels.len() as u32;
    let area = page(&path, (1100, height), "Scale curve", &sources(used))?;
    let cells = area.split_evenly((panels.len(), 1));
    let legends: Vec<(Vec<RGBColor>, Vec<Entry>)> = panels.iter().map(legend).collect();
    let width = legend_width(legends.iter().flat_map(|(_, entries)| entries));
    for ((panel, cell), (colors, entries)) in panels.iter().zip(&cells).zip(&legends) {
        let area = with_legend(cell, entries, width)?;
        draw_panel(panel, &area, colors)?;
    }
    area.present()?;
    Ok(Outcome::Written(path.clone()))
}

/// A panel's line colours and legend.
fn legend(panel: &Panel) -> (Vec<RGBColor>, Vec<Entry>) {
    let others: Vec<String> = panel.lines.iter().map(|l| l.system.clone()).collect();
    let distinct = {
        let mut s: Vec<&str> = panel.lines.iter().map(|l| l.system.as_str()).collect();
        s.dedup();
        s.len() == panel.lines.len()
    };
    let colors: Vec<RGBColor> = (0..panel.lines.len())
        .map(|i| {
            if distinct {
                system_color(&panel.lines[i].system, &others)
            } else {
                super::palette(i)
            }
        })
        .collect();
    let mut entries = Vec::new();
    for (line, color) in panel.lines.iter().zip(&colors) {
        entries.push(Entry {
            label: format!("{} published", line.label),
            color: *color,
            mark: Mark::Line,
        });
        if !line.deliveries.is_empty() {
            entries.push(Entry {
                label: format!("{} deliveries", line.label),
                color: *color,
                mark: Mark::Dashed,
            });
        }
    }
    (colors, entries)
}

fn draw_panel(panel: &Panel, area: &Area, colors: &[RGBColor]) -> DrawResult<()> {
    let mut xs: Vec<f64> = panel
        .lines
        .iter()
        .flat_map(|l| l.published.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (x_min, x_max) = (xs[0], xs[xs.len() - 1]);
    let log2 = x_min > 0.0 && x_max / x_min >= 8.0;
    let tx = |x: f64| if log2 { x.log2() } else { x };
    let x_axis = if xs.len() <= 12 {
        let pad = ((tx(x_max) - tx(x_min)) * 0.05).max(0.5);
        Axis::ticked(
            tx(x_min) - pad,
            tx(x_max) + pad,
            xs.iter().map(|x| tx(*x)).collect(),
        )
    } else if log2 {
        let mut a = Axis::linear(tx(x_min), tx(x_max), false);
        a.ticks.retain(|t| t.fract() == 0.0);
        a
    } else {
        Axis::linear(x_min, x_max, false)
    };
    let x_label = |t: &f64| fmt_num(if log2 { t.exp2() } else { *t });
    let top = panel
        .lines
        .iter()
        .flat_map(|l| l.published.iter().chain(&l.deliveries))
        .map(|p| p.3)
        .fold(0.0, f64::max);
    let y_axis = Axis::linear(0.0, top, true);
    let y_label = |v: &f64| fmt_num(*v);

    let mut chart = chart_on(
        area,
        Some(&panel.scenario),
        60,
        x_axis.clone(),
        y_axis.clone(),
    )?;
    let x_desc = format!("{}{}", panel.param, if log2 { " (log2 scale)" } else { "" });
    let spec = MeshSpec {
        x_desc: &x_desc,
        y_desc: "M msg/s (median; whisker: min–max)",
        x_mesh: true,
        light: None,
    };
    draw_mesh(&mut chart, spec, &x_label, &y_label)?;

    let cap = (x_axis.hi - x_axis.lo) * 0.006;
    for (line, color) in panel.lines.iter().zip(colors) {
        let style = color.stroke_width(2);
        let whisker = color.stroke_width(1);
        let at = |p: &Point| (tx(p.0), p.1);
        chart.draw_series(LineSeries::new(line.published.iter().map(at), style))?;
        chart.draw_series(
            line.published
                .iter()
                .map(|p| Circle::new(at(p), 3, color.filled())),
        )?;
        for p in &line.deliveries {
            chart.draw_series([Circle::new(at(p), 3, color.filled())])?;
        }
        let deliveries: Vec<(f64, f64)> = line.deliveries.iter().map(at).collect();
        chart.draw_series(DashedLineSeries::new(deliveries, 8, 5, style))?;
        for p in line
            .published
            .iter()
            .chain(&line.deliveries)
            .filter(|p| p.2 < p.3)
        {
            let x = tx(p.0);
            chart.draw_series([
                PathElement::new(vec![(x, p.2), (x, p.3)], whisker),
                PathElement::new(vec![(x - cap, p.2), (x + cap, p.2)], whisker),
                PathElement::new(vec![(x - cap, p.3), (x + cap, p.3)], whisker),
            ])?;
        }
    }
    Ok(())
}
