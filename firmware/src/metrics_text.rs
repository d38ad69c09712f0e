//! The Prometheus text exposition format (version 0.0.4), written in one place: each metric
//! family once with its HELP and TYPE, label values escaped.

use std::fmt::{Display, Write as _};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A `/metrics` page being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts the family `name` (every name starts `babymonitor_`); add its samples to the
    /// handle.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> Family<'_> {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(
            self.out,
            "# HELP babymonitor_{name} {help}\n# TYPE babymonitor_{name} {kind}\n"
        );
        Family {
            out: &mut self.out,
            name: format!("babymonitor_{name}"),
        }
    }

    /// A family with a single sample and no labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help).sample(&[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

pub struct Family<'a> {
    out: &'a mut String,
    name: String,
}

impl Family<'_> {
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) -> &mut Self {
        self.out.push_str(&self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{label}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaped_labels() {
        let mut e = Exposition::default();
        e.family("x", Kind::Gauge, "An \\ x.\nTwo lines.")
            .sample(&[("a", "1")], 2)
            .sample(&[("a", "q\"b\\c\nd"), ("b", "")], 0.5);
        e.single("y_total", Kind::Counter, "Ys.", 7);
        assert_eq!(
            e.finish(),
            "# HELP babymonitor_x An \\\\ x.\\nTwo lines.\n# TYPE babymonitor_x gauge\n\
             babymonitor_x{a=\"1\"} 2\nbabymonitor_x{a=\"q\\\"b\\\\c\\nd\",b=\"\"} 0.5\n\
             # HELP babymonitor_y_total Ys.\n# TYPE babymonitor_y_total counter\nbabymonitor_y_total 7\n"
        );
    }
}
