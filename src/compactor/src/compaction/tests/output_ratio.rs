//! Groups sized by expected output bytes on a real table: a sample on the first compaction,
//! the table's compacted files after it.

use std::sync::Arc;

use common::clock::SystemClock;
use tokio_util::sync::CancellationToken;

use super::execute::{settings, step_with};
use super::fixture::{BASE_HOUR, Fixture, live};
use crate::compaction::CompactionStep;
use crate::compaction::output_ratio::RatioSource;
use crate::job::Scope;
use crate::step::TableContext;

/// The plan of the table of `fx` by `step`.
async fn plan_of(fx: &Fixture, step: &CompactionStep) -> crate::compaction::TablePlan {
    let table = fx.load().await;
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    step.plan(&cx).await.unwrap()
}

#[tokio::test]
async fn the_first_compaction_samples_its_inputs_and_later_ones_read_the_compacted_files() {
    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 8, 2000).await;
    let inputs: u64 = live(&fx.load().await).await.iter().map(|e| e.size).sum();
    // A target a third of the hour's input: more than one file at any ratio near 1.
    let target = inputs / 3;
    let step = CompactionStep::new(settings(target), Arc::new(SystemClock));
    let plan = plan_of(&fx, &step).await;
    let ratio = plan.output_ratio;
    assert_eq!(ratio.source, RatioSource::Sample, "{plan:?}");
    assert!((0.05..1.0).contains(&ratio.ratio), "{ratio:?}: uncompressed inputs");
    let group = &plan.candidates[0].groups[0];
    assert_eq!(group.expected_bytes, ratio.of(group.bytes));
    assert_eq!(
        group.expected_output_files as u64,
        group.expected_bytes.div_ceil(target),
        "files counted on the expected output"
    );

    // The compaction writes the files the plan announced.
    let (metered, _) = step_with(settings(target), Arc::new(SystemClock));
    let (planned, execution) =
        super::execute::compact(&fx, &metered, &fx.load().await, &CancellationToken::new()).await;
    assert_eq!(planned.output_ratio.source, RatioSource::Sample);
    assert_eq!(execution.groups_committed, 1, "{execution:?}");
    let written = live(&fx.load().await).await;
    assert_eq!(written.len(), planned.files_after, "{written:?}");

    // A later hour: the ratio is read off the compacted files, no sample.
    fx.fill(&[BASE_HOUR + 1], 8, 2000).await;
    let later = plan_of(&fx, &step).await;
    assert_eq!(later.output_ratio.source, RatioSource::CompactedFiles);
    let (bytes, rows) = written.iter().fold((0, 0), |(b, r), e| (b + e.size, r + e.records));
    let small = &later.candidates[0];
    assert_eq!(small.hour, BASE_HOUR + 1);
    let measured = (bytes as f64 / rows as f64) / (small.bytes as f64 / small.rows as f64);
    let later = later.output_ratio;
    assert!((later.ratio - measured).abs() < 1e-9, "{later:?} vs {measured}");
}
