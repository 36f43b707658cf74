//! Checks that every listing in the book really comes from the crates.
//!
//! mdBook 0.5 exits 0 when an `{{#include}}` names a missing file (the
//! directive stays in the page) or a missing anchor (the listing renders
//! empty), so a renamed function silently empties a page. [`problems`]
//! loads and preprocesses the book the way `mdbook build` does and reports:
//!
//! - any `{{#` directive left unresolved,
//! - any code block that came out empty,
//! - any `ANCHOR: name` in the sources without its `ANCHOR_END: name`
//!   (mdBook then includes everything to the end of the file).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mdbook_driver::MDBook;
use mdbook_driver::book::BookItem;
use mdbook_driver::builtin_renderers::MarkdownRenderer;

/// Everything wrong with the book at `book_root`. Empty means all is well.
pub fn problems(book_root: &Path) -> Result<Vec<String>> {
    let book = MDBook::load(book_root)
        .with_context(|| format!("cannot load the book at {}", book_root.display()))?;
    let mut problems = Vec::new();

    // Before preprocessing: which source files do the pages include?
    let src = book.source_dir();
    let mut included = BTreeSet::new();
    for item in book.iter() {
        let BookItem::Chapter(chapter) = item else {
            continue;
        };
        let Some(page) = &chapter.source_path else {
            continue;
        };
        let dir = src
            .join(page)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for target in include_targets(&chapter.content) {
            included.insert(dir.join(target));
        }
    }
    for file in &included {
        // A missing file is reported below, as the directive left unresolved.
        if let Ok(text) = fs::read_to_string(file) {
            for name in unclosed_anchors(&text) {
                problems.push(format!(
                    "{}: ANCHOR: {name} has no ANCHOR_END",
                    file.display()
                ));
            }
        }
    }

    // After preprocessing: what did the includes turn into?
    let (book, _) = book
        .preprocess_book(&MarkdownRenderer::new())
        .context("cannot preprocess the book")?;
    for item in book.iter() {
        let BookItem::Chapter(chapter) = item else {
            continue;
        };
        let page = chapter
            .path
            .as_ref()
            .map_or_else(|| chapter.name.clone(), |p| p.display().to_string());
        for (number, line) in chapter.content.lines().enumerate() {
            if line.contains("{{#") {
                problems.push(format!(
                    "{page}:{}: unresolved directive: {}",
                    number + 1,
                    line.trim()
                ));
            }
        }
        for line in empty_code_blocks(&chapter.content) {
            problems.push(format!(
                "{page}:{line}: code block is empty (missing anchor?)"
            ));
        }
    }
    Ok(problems)
}

/// The paths named by `{{#include path}}`, `{{#include path:anchor}}` and
/// `{{#rustdoc_include ...}}` directives in `markdown`.
fn include_targets(markdown: &str) -> Vec<PathBuf> {
    let mut targets = Vec::new();
    for (start, _) in markdown.match_indices("{{#") {
        let Some((directive, _)) = markdown[start + 3..].split_once("}}") else {
            continue;
        };
        let mut words = directive.split_whitespace();
        if !matches!(words.next(), Some("include" | "rustdoc_include")) {
            continue;
        }
        if let Some(target) = words.next() {
            let path = target.split(':').next().unwrap_or(target);
            targets.push(PathBuf::from(path));
        }
    }
    targets
}

/// Line numbers of fenced code blocks with nothing but blank lines inside.
fn empty_code_blocks(markdown: &str) -> Vec<usize> {
    let mut empty = Vec::new();
    let mut open: Option<(usize, &str, bool)> = None; // (line, fence, seen text)
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(fence) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) {
                    open = Some((number + 1, fence, false));
                }
            }
            Some((start, fence, seen_text)) => {
                if trimmed.starts_with(*fence) {
                    if !*seen_text {
                        empty.push(*start);
                    }
                    open = None;
                } else if !trimmed.is_empty() {
                    *seen_text = true;
                }
            }
        }
    }
    empty
}

/// Names of `ANCHOR: x` markers with no `ANCHOR_END: x` after them (mdBook
/// then includes everything to the end of the file).
fn unclosed_anchors(text: &str) -> BTreeSet<&str> {
    let mut open = BTreeSet::new();
    for line in text.lines() {
        if let Some(name) = anchor_name(line, "ANCHOR_END:") {
            open.remove(name);
        } else if let Some(name) = anchor_name(line, "ANCHOR:") {
            open.insert(name);
        }
    }
    open
}

/// The anchor name after `marker`, as mdBook reads it: word characters and
/// hyphens.
fn anchor_name<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(marker)?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}
