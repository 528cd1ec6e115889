//! Reading a `/metrics` page in the Prometheus text exposition format 0.0.4, strictly.
//!
//! [`Exposition::parse`] refuses anything a Prometheus server would refuse or silently
//! mis-read: a sample line that does not parse, a sample outside its family's `# TYPE` block, a
//! family typed twice, bad label names, duplicate series, histograms without `+Inf`, `_sum` or
//! `_count`, or with buckets that decrease. It then parses the same text again with the
//! independent `prometheus-parse` crate and checks that both readings agree on every value.

use std::collections::{BTreeMap, BTreeSet};

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped`
    Untyped,
}

impl MetricKind {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "histogram" => MetricKind::Histogram,
            "summary" => MetricKind::Summary,
            "untyped" => MetricKind::Untyped,
            other => return Err(format!("unknown metric type `{other}`")),
        })
    }
}

/// Label name → value of one series.
pub type LabelSet = BTreeMap<String, String>;

/// One series of a family. For histograms and summaries, `value` is the series' `_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels (without `le` or `quantile`).
    pub labels: LabelSet,
    /// Its value.
    pub value: f64,
}

/// One metric family: its `# TYPE`, `# HELP` and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Its type.
    pub kind: MetricKind,
    /// Its help text (empty when there is no `# HELP`).
    pub help: String,
    /// Its series, in the order they appeared.
    pub series: Vec<Series>,
}

impl Family {
    /// The label names its series use (without `le` or `quantile`).
    pub fn label_names(&self) -> BTreeSet<&str> {
        self.series.iter().flat_map(|s| s.labels.keys().map(String::as_str)).collect()
    }
}

/// A parsed and validated `/metrics` page.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    families: BTreeMap<String, Family>,
}

impl Exposition {
    /// Parses and validates `text`; the error names the offending line.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut parser = Parser::default();
        for (i, line) in text.lines().enumerate() {
            parser.line(line).map_err(|e| format!("line {}: {e}: `{line}`", i + 1))?;
        }
        let exposition = parser.finish()?;
        exposition.cross_check(text)?;
        Ok(exposition)
    }

    /// The family called `name`, if present.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    /// Every family name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.families.keys().map(String::as_str)
    }

    /// The value of the series of `family` whose labels are exactly `labels`.
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: LabelSet = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.family(family)?.series.iter().find(|s| s.labels == wanted).map(|s| s.value)
    }

    /// The sum over the series of `family` whose labels include all of `labels` (0 when none).
    pub fn sum(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        self.family(family)
            .map(|f| {
                f.series
                    .iter()
                    .filter(|s| {
                        labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                    })
                    .map(|s| s.value)
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// Checks the values against a second, independent parser (`prometheus-parse`).
    fn cross_check(&self, text: &str) -> Result<(), String> {
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .map_err(|e| format!("prometheus-parse: {e}"))?;
        let mut theirs: BTreeMap<(String, String), f64> = BTreeMap::new();
        for sample in &scrape.samples {
            let labels: LabelSet =
                sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let key = (sample.metric.clone(), format!("{labels:?}"));
            let value = match &sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().find(|b| b.less_than.is_infinite()).map_or(f64::NAN, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => continue,
            };
            theirs.insert(key, value);
        }
        for (name, family) in &self.families {
            if family.kind == MetricKind::Summary {
                continue;
            }
            for series in &family.series {
                let key = (name.clone(), format!("{:?}", series.labels));
                match theirs.get(&key) {
                    Some(v) if same(*v, series.value) => {}
                    other => {
                        return Err(format!(
                            "prometheus-parse reads {name}{:?} as {other:?}, we read {}",
                            series.labels, series.value
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Series of a histogram or summary being assembled from its sample lines.
#[derive(Debug, Default)]
struct Composite {
    /// (`le` or `quantile` bound, value), in order of appearance.
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
}

#[derive(Debug, Default)]
struct Parser {
    families: BTreeMap<String, Family>,
    helps: BTreeMap<String, String>,
    /// The family whose `# TYPE` block we are in.
    current: Option<String>,
    /// Histogram and summary series of the current family.
    composites: BTreeMap<String, (LabelSet, Composite)>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.trim_start().splitn(3, ' ');
            return match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), help) => {
                    check_metric_name(name)?;
                    let previous = self.helps.insert(name.into(), help.unwrap_or("").into());
                    if previous.is_some() { Err(format!("second HELP for {name}")) } else { Ok(()) }
                }
                (Some("TYPE"), Some(name), Some(kind)) => self.begin_family(name, kind.trim()),
                (Some("TYPE"), ..) => Err("TYPE without a type".into()),
                _ => Ok(()), // any other comment
            };
        }
        let (name, labels, value) = parse_sample(line)?;
        let family_name = self.current.clone().ok_or("sample before any # TYPE")?;
        let family = self.families.get_mut(&family_name).expect("current family exists");
        let suffix = name
            .strip_prefix(family_name.as_str())
            .ok_or_else(|| format!("sample {name} inside the block of family {family_name}"))?;
        match family.kind {
            MetricKind::Counter | MetricKind::Gauge | MetricKind::Untyped => {
                if !suffix.is_empty() {
                    return Err(format!("sample {name} inside the block of family {family_name}"));
                }
                if family.series.iter().any(|s| s.labels == labels) {
                    return Err(format!("duplicate series {name}{labels:?}"));
                }
                family.series.push(Series { labels, value });
            }
            MetricKind::Histogram | MetricKind::Summary => {
                let bound_label =
                    if family.kind == MetricKind::Histogram { "le" } else { "quantile" };
                let mut labels = labels;
                let bound = labels.remove(bound_label);
                let key = format!("{labels:?}");
                let (_, c) =
                    self.composites.entry(key).or_insert_with(|| (labels, Composite::default()));
                match (suffix, bound) {
                    ("_bucket", Some(le)) if family.kind == MetricKind::Histogram => {
                        c.buckets.push((parse_value(&le)?, value))
                    }
                    ("", Some(q)) if family.kind == MetricKind::Summary => {
                        c.buckets.push((parse_value(&q)?, value))
                    }
                    ("_sum", None) if c.sum.is_none() => c.sum = Some(value),
                    ("_count", None) if c.count.is_none() => c.count = Some(value),
                    _ => return Err(format!("unexpected sample {name} in {family_name}")),
                }
            }
        }
        Ok(())
    }

    fn begin_family(&mut self, name: &str, kind: &str) -> Result<(), String> {
        check_metric_name(name)?;
        self.close_family()?;
        if self.families.contains_key(name) {
            return Err(format!("second TYPE for {name}"));
        }
        let kind = MetricKind::parse(kind)?;
        self.families.insert(name.into(), Family { kind, help: String::new(), series: Vec::new() });
        self.current = Some(name.into());
        Ok(())
    }

    /// Validates the histogram or summary series of the current family and stores them.
    fn close_family(&mut self) -> Result<(), String> {
        let Some(name) = self.current.take() else { return Ok(()) };
        let family = self.families.get_mut(&name).expect("current family exists");
        for (_, (labels, c)) in std::mem::take(&mut self.composites) {
            let (Some(sum), Some(count)) = (c.sum, c.count) else {
                return Err(format!("{name}{labels:?} lacks _sum or _count"));
            };
            if family.kind == MetricKind::Histogram {
                let Some(&(last_le, inf)) = c.buckets.last() else {
                    return Err(format!("{name}{labels:?} has no buckets"));
                };
                if last_le != f64::INFINITY || inf != count {
                    return Err(format!("{name}{labels:?}: last bucket is not +Inf = _count"));
                }
                if c.buckets.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
                    return Err(format!("{name}{labels:?}: buckets not increasing"));
                }
            }
            if !sum.is_finite() && !sum.is_nan() {
                return Err(format!("{name}{labels:?}: _sum is {sum}"));
            }
            family.series.push(Series { labels, value: count });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Exposition, String> {
        self.close_family()?;
        for (name, help) in self.helps {
            match self.families.get_mut(&name) {
                Some(family) => family.help = help,
                None => return Err(format!("HELP for {name}, which has no TYPE")),
            }
        }
        Ok(Exposition { families: self.families })
    }
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok { Ok(()) } else { Err(format!("invalid metric name `{name}`")) }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(format!("invalid label name `{name}`")) }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|e| format!("bad value `{s}`: {e}")),
    }
}

/// `name{labels} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(String, LabelSet, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = LabelSet::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|e| format!("bad timestamp `{ts}`: {e}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    Ok((name.to_string(), labels, value))
}

/// Parses `k="v",...}` and returns what follows the closing brace.
fn parse_labels<'a>(mut s: &'a str, labels: &mut LabelSet) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or("label without `=`")?;
        let key = s[..eq].trim();
        check_label_name(key)?;
        let quoted = s[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => return Err(format!("bad escape {other:?} in label {key}")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated value of label {key}")),
            }
        };
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        s = &quoted[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{task=\"a\",outcome=\"ok\"} 3
jobs_total{task=\"b\",outcome=\"ok\"} 0
# HELP d_seconds Durations.
# TYPE d_seconds histogram
d_seconds_bucket{task=\"a\",le=\"0.5\"} 1
d_seconds_bucket{task=\"a\",le=\"+Inf\"} 2
d_seconds_sum{task=\"a\"} 0.75
d_seconds_count{task=\"a\"} 2
# TYPE up gauge
up 1
";

    #[test]
    fn reads_families_labels_and_values() {
        let e = Exposition::parse(GOOD).unwrap();
        assert_eq!(e.names().collect::<Vec<_>>(), ["d_seconds", "jobs_total", "up"]);
        let jobs = e.family("jobs_total").unwrap();
        assert_eq!((jobs.kind, jobs.help.as_str()), (MetricKind::Counter, "Jobs."));
        assert_eq!(jobs.label_names(), BTreeSet::from(["task", "outcome"]));
        assert_eq!(e.value("jobs_total", &[("outcome", "ok"), ("task", "a")]), Some(3.0));
        assert_eq!(e.value("jobs_total", &[("task", "b"), ("outcome", "ok")]), Some(0.0));
        assert_eq!(e.value("jobs_total", &[("task", "a")]), None, "labels must match exactly");
        assert_eq!(e.sum("jobs_total", &[("outcome", "ok")]), 3.0);
        let d = e.family("d_seconds").unwrap();
        assert_eq!(d.label_names(), BTreeSet::from(["task"]));
        assert_eq!(e.value("d_seconds", &[("task", "a")]), Some(2.0));
        assert_eq!(e.value("up", &[]), Some(1.0));
    }

    #[test]
    fn unescapes_label_values() {
        let mut labels = LabelSet::new();
        let rest = parse_labels(r#"a="x\"y\\z\n", b="" } 1"#, &mut labels).unwrap();
        assert_eq!(rest, " 1");
        assert_eq!(labels["a"], "x\"y\\z\n");
        assert_eq!(labels["b"], "");
    }

    #[test]
    fn refuses_what_prometheus_would_refuse() {
        for (bad, why) in [
            ("up 1\n", "sample before TYPE"),
            ("# TYPE up gauge\nup{a=\"1\"} x\n", "bad value"),
            ("# TYPE up gauge\nup{a=1} 1\n", "unquoted label"),
            ("# TYPE up gauge\nup{a=\"1\",a=\"2\"} 1\n", "label twice"),
            ("# TYPE up gauge\nup 1\nup 2\n", "duplicate series"),
            ("# TYPE up gauge\n# TYPE up gauge\n", "typed twice"),
            ("# TYPE up gauge\nother 1\n", "sample of another family"),
            ("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "no +Inf"),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "decreasing buckets",
            ),
            ("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "no _sum"),
            ("# HELP x x\n", "HELP without TYPE"),
        ] {
            assert!(Exposition::parse(bad).is_err(), "accepted ({why}):\n{bad}");
        }
    }
}
