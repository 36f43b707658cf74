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
//!
//! [`problems_in`] runs the same checks on a translated edition (the
//! gettext preprocessor translates each page first), and [`untranslated`]
//! lists the messages of the English source that a translation lacks or
//! marks fuzzy, so that the editions cannot drift apart.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use std::collections::HashSet;

use anyhow::{Context, Result};
use mdbook_driver::MDBook;
use mdbook_driver::book::BookItem;
use mdbook_driver::builtin_renderers::MarkdownRenderer;
use mdbook_driver::config::Config;

/// Everything wrong with the book at `book_root`. Empty means all is well.
pub fn problems(book_root: &Path) -> Result<Vec<String>> {
    problems_in(book_root, None)
}

/// [`problems`] for the edition in `language` (`None`: the book's own).
pub fn problems_in(book_root: &Path, language: Option<&str>) -> Result<Vec<String>> {
    let book = load(book_root, language)?;
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

/// The book at `book_root`, as it is built in `language`.
fn load(book_root: &Path, language: Option<&str>) -> Result<MDBook> {
    let toml = book_root.join("book.toml");
    let mut config =
        Config::from_disk(&toml).with_context(|| format!("cannot read {}", toml.display()))?;
    if let Some(language) = language {
        config.book.language = Some(language.to_string());
    }
    MDBook::load_with_config(book_root, config)
        .with_context(|| format!("cannot load the book at {}", book_root.display()))
}

/// The messages of the English source (every page, and the titles in
/// `SUMMARY.md`) that `po/LANGUAGE.po` does not translate, or marks fuzzy:
/// what `mdbook-xgettext` would extract today, looked up in the PO file.
/// Each entry names the page and the start of the message.
pub fn untranslated(book_root: &Path, language: &str) -> Result<Vec<String>> {
    let po = book_root.join("po").join(format!("{language}.po"));
    let catalog = polib::po_file::parse(&po)
        .map_err(|err| anyhow::anyhow!("{err}"))
        .with_context(|| format!("cannot read {}", po.display()))?;
    let done: HashSet<&str> = catalog
        .messages()
        .filter(|message| message.is_translated() && !message.is_fuzzy())
        .map(|message| message.msgid())
        .collect();

    // The untranslated book: chapters as written, before any preprocessor.
    let book = load(book_root, None)?;
    let summary_path = book.source_dir().join("SUMMARY.md");
    let summary = fs::read_to_string(&summary_path)
        .with_context(|| format!("cannot read {}", summary_path.display()))?;
    let mut pages = vec![("SUMMARY.md".to_string(), summary, true)];
    for item in book.iter() {
        if let BookItem::Chapter(chapter) = item {
            let page = chapter
                .source_path
                .as_ref()
                .map_or_else(|| chapter.name.clone(), |p| p.display().to_string());
            pages.push((page, chapter.content.clone(), false));
        }
    }

    let mut missing = Vec::new();
    for (page, markdown, is_summary) in pages {
        let messages = mdbook_i18n_helpers::extract_messages(&markdown)
            .map_err(|err| anyhow::anyhow!("{err:?}"))
            .with_context(|| format!("cannot extract the messages of {page}"))?;
        for (line, message) in messages {
            // SUMMARY.md's entries are links; mdbook-xgettext keeps their
            // text only.
            let msgid = if is_summary {
                link_text(&message.message)
            } else {
                message.message
            };
            if !done.contains(msgid.as_str()) {
                let start: String = msgid.chars().take(60).collect();
                missing.push(format!("{page}:{line}: {start:?}"));
            }
        }
    }
    Ok(missing)
}

/// `[text](target)` → `text`: how a SUMMARY.md entry becomes its message.
fn link_text(message: &str) -> String {
    match (message.strip_prefix('['), message.rfind("](")) {
        (Some(_), Some(end)) if message.ends_with(')') => message[1..end].to_string(),
        _ => message.to_string(),
    }
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
