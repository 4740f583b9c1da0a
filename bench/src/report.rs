//! Results: a two-column table for people, the same figures as JSON for scripts.

use serde_json::{Map, Value};

use crate::hist::Histogram;

pub struct Report {
    pub rows: Vec<(String, String)>,
    pub json: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        let mut report = Report { rows: Vec::new(), json: Map::new() };
        report.row("scenario", scenario);
        report.set("scenario", scenario);
        report
    }

    pub fn row(&mut self, name: &str, value: impl Into<String>) {
        self.rows.push((name.to_string(), value.into()));
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_string(), value.into());
    }

    /// A latency row (`p50 .. max`) and a JSON object of microseconds under `key`.
    pub fn latency(&mut self, name: &str, key: &str, hist: &Histogram) {
        self.row(name, latency_line(hist));
        self.set(key, latency_json(hist));
    }

    pub fn print(&self, json: bool) {
        if json {
            println!("{}", Value::Object(self.json.clone()));
            return;
        }
        let width = self.rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, value) in &self.rows {
            println!("{name:<width$}  {value}");
        }
    }
}

pub fn latency_line(hist: &Histogram) -> String {
    if hist.count() == 0 {
        return "no samples".into();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
        ms(hist.quantile(0.5)),
        ms(hist.quantile(0.9)),
        ms(hist.quantile(0.99)),
        ms(hist.quantile(0.999)),
        ms(hist.max()),
        hist.count()
    )
}

pub fn latency_json(hist: &Histogram) -> Value {
    let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
    serde_json::json!({
        "count": hist.count(),
        "p50_us": us(hist.quantile(0.5)),
        "p90_us": us(hist.quantile(0.9)),
        "p99_us": us(hist.quantile(0.99)),
        "p999_us": us(hist.quantile(0.999)),
        "max_us": us(hist.max()),
        "min_us": us(hist.min()),
        "mean_us": (hist.mean() / 100.0).round() / 10.0,
    })
}

/// Nanoseconds as milliseconds, three decimals.
pub fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
