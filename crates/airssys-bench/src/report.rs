//! Figures and how they are printed: a table on stdout, JSON and Markdown files.

#![allow(clippy::print_stdout, reason = "the benchmark binary reports on stdout")]

use serde::Serialize;

/// The baseline a figure is compared with, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What the baseline measures.
    pub name: String,
    /// Its value, in the figure's unit.
    pub value: f64,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What is measured.
    pub name: String,
    /// The median measurement.
    pub value: f64,
    /// Unit of `value` (and of the baseline).
    pub unit: String,
    /// The same-run baseline, if any.
    pub baseline: Option<Baseline>,
    /// `value / baseline.value` (lower is better for both), if there is a baseline.
    pub ratio: Option<f64>,
    /// The target, in words.
    pub target: String,
    /// Whether the target is met; `None` (JSON `null`) when the figure has no target.
    pub met: Option<bool>,
    /// Other systems measured on the same workload in the same run (peers), if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Baseline>,
    /// What else a reader needs to read the figure (printed under the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// A figure compared with a baseline; the target is a maximum ratio.
    pub fn vs(
        name: &str,
        value: f64,
        unit: &str,
        base: &str,
        base_value: f64,
        max_ratio: f64,
    ) -> Self {
        let ratio = value / base_value;
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: Some(Baseline { name: base.into(), value: base_value }),
            ratio: Some(ratio),
            target: format!("ratio <= {max_ratio}"),
            met: Some(ratio <= max_ratio),
            peers: Vec::new(),
            note: None,
        }
    }

    /// A figure shown next to a baseline (with the ratio), whose target is a maximum value
    /// in its own unit, described by `target`.
    pub fn at_most(
        name: &str,
        (value, unit): (f64, String),
        (base, base_value): (&str, f64),
        max: f64,
        target: &str,
    ) -> Self {
        Figure {
            target: target.into(),
            met: Some(value <= max),
            unit,
            ..Figure::vs(name, value, "", base, base_value, f64::INFINITY)
        }
    }
}

pub fn print_row(f: &Figure) {
    eprintln!("  {} = {:.1} {}", f.name, f.value, f.unit);
}

/// The cells of one row: name, value, unit, baseline name, baseline value, ratio, target.
fn cells(f: &Figure) -> [String; 7] {
    let (bn, bv) = f.baseline.as_ref().map_or(("-".to_string(), "-".to_string()), |b| {
        (b.name.clone(), format!("{:.1}", b.value))
    });
    let ratio = f.ratio.map_or("-".into(), |r| format!("{r:.2}x"));
    [f.name.clone(), format!("{:.1}", f.value), f.unit.clone(), bn, bv, ratio, f.target.clone()]
}

pub fn print_table(figures: &[Figure], quick: bool) {
    println!(
        "\n{:<34} {:>12} {:<10} {:<34} {:>12} {:>7}  {:<22} met",
        "figure", "value", "unit", "baseline (same run)", "baseline", "ratio", "target"
    );
    for f in figures {
        let [name, value, unit, bn, bv, ratio, target] = cells(f);
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{name:<34} {value:>12} {unit:<10} {bn:<34} {bv:>12} {ratio:>7}  {target:<22} {met}"
        );
    }
    for f in figures.iter().filter(|f| !f.peers.is_empty()) {
        let peers: Vec<String> =
            f.peers.iter().map(|p| format!("{} {:.1} {}", p.name, p.value, f.unit)).collect();
        println!("{}: airssys {:.1} {}; {}", f.name, f.value, f.unit, peers.join("; "));
    }
    for f in figures {
        if let Some(note) = &f.note {
            println!("{}: {note}", f.name);
        }
    }
    if quick {
        println!("(quick run: fewer samples, wider spread)");
    }
}

pub fn markdown(figures: &[Figure], quick: bool) -> String {
    let mut s = String::from(
        "| figure | value | unit | baseline (same run) | baseline value | ratio | target | met |\n|---|---|---|---|---|---|---|---|\n",
    );
    for f in figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "- (no target)",
        };
        s.push_str(&format!("| {} | {met} |\n", cells(f).join(" | ")));
    }
    let with_peers: Vec<&Figure> = figures.iter().filter(|f| !f.peers.is_empty()).collect();
    if !with_peers.is_empty() {
        s.push_str("\nPeers, same workload, same run:\n\n| figure | airssys | peer | peer value | ratio |\n|---|---|---|---|---|\n");
        for f in with_peers {
            for p in &f.peers {
                s.push_str(&format!(
                    "| {} | {:.1} {} | {} | {:.1} | {:.2}x |\n",
                    f.name,
                    f.value,
                    f.unit,
                    p.name,
                    p.value,
                    f.value / p.value
                ));
            }
        }
    }
    let notes: Vec<&Figure> = figures.iter().filter(|f| f.note.is_some()).collect();
    if !notes.is_empty() {
        s.push_str("\nNotes:\n\n");
        for f in notes {
            s.push_str(&format!("- {}: {}\n", f.name, f.note.as_deref().unwrap_or_default()));
        }
    }
    if quick {
        s.push_str("\n(quick run)\n");
    }
    s
}
