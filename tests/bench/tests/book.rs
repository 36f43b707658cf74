//! The book's "Measuring the models" page includes the generated results
//! section by section. A missing section would render as nothing, silently
//! (mdBook does not complain about a missing anchor in a Markdown file, and
//! book-check only sees empty *code* blocks), so check here that every
//! section the page names exists, is not empty, and links only charts that
//! exist.

// Helpers outside #[test] functions too: a failed setup should fail the test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use echo_bench::compare::{ANCHORS, CHARTS};

fn book() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../book/src"))
}

fn included_sections(page: &str) -> Vec<&str> {
    page.match_indices("{{#include measuring/results.md:")
        .filter_map(|(at, directive)| {
            let rest = &page[at + directive.len()..];
            rest.split_once("}}").map(|(name, _)| name)
        })
        .collect()
}

#[test]
fn the_page_includes_every_generated_section_and_only_those() {
    let page = std::fs::read_to_string(book().join("measuring.md")).unwrap();
    let mut included = included_sections(&page);
    for name in &included {
        assert!(
            ANCHORS.contains(name),
            "measuring.md includes unknown section {name}"
        );
    }
    included.sort();
    let mut all = ANCHORS.to_vec();
    all.sort();
    assert_eq!(
        included, all,
        "measuring.md should include every section once"
    );
}

#[test]
fn the_generated_results_have_every_section() {
    let results = std::fs::read_to_string(book().join("measuring/results.md")).unwrap();
    for name in ANCHORS {
        let start = format!("<!-- ANCHOR: {name} -->");
        let end = format!("<!-- ANCHOR_END: {name} -->");
        let body = results
            .split_once(&start)
            .and_then(|(_, rest)| rest.split_once(&end))
            .map(|(body, _)| body.trim())
            .unwrap_or_else(|| panic!("results.md has no section {name}"));
        assert!(!body.is_empty(), "section {name} is empty");
        assert!(!body.contains("{{#"), "section {name} holds a directive");
    }
}

#[test]
fn the_page_shows_every_chart_and_each_exists() {
    let page = std::fs::read_to_string(book().join("measuring.md")).unwrap();
    for (file, _) in CHARTS {
        assert!(
            page.contains(&format!("](images/{file})")),
            "measuring.md does not show {file}"
        );
        let path = book().join("images").join(file);
        assert!(path.exists(), "{file} was not generated");
    }
}
