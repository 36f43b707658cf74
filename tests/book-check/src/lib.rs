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
//!   (mdBook then includes everything to the end of the file),
//! - any link to `page.md#id` or `#id` whose page has no heading with that
//!   id (mdBook renders it, and the browser lands at the top of the page),
//! - any `_` or `*` left as text beside a CJK character: emphasis that did
//!   not render (mdbook-gettext writes a translation's emphasis as `_x_`,
//!   which CommonMark does not open between CJK characters; translations
//!   write `<em>x</em>` instead).
//!
//! [`problems_in`] runs the same checks on a translated edition (the
//! gettext preprocessor, run in-process, translates each page first; a
//! heading keeps its `{#id}`, so links stay valid only if the headings they
//! point to carry one), and [`untranslated`]
//! lists the messages of the English source that a translation lacks or
//! marks fuzzy, so that the editions cannot drift apart.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use std::collections::{HashMap, HashSet};

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
    problems.extend(broken_anchors(&book));
    problems.extend(unrendered_emphasis(&book));
    if language.is_some() {
        // A translation that breaks a page's structure (a listing inside a
        // list item, re-rendered) turns a listing into text.
        let english = load(book_root, None)?
            .preprocess_book(&MarkdownRenderer::new())
            .context("cannot preprocess the English book")?
            .0;
        let ours = code_blocks(&book);
        for (page, count) in code_blocks(&english) {
            let translated = ours.get(&page).copied().unwrap_or(0);
            if translated != count {
                problems.push(format!(
                    "{}: {count} code blocks in English, {translated} in this edition",
                    page.display()
                ));
            }
        }
    }
    Ok(problems)
}

/// Every page of `book` that has a file, with its path.
fn pages(
    book: &mdbook_driver::book::Book,
) -> impl Iterator<Item = (&PathBuf, &mdbook_driver::book::Chapter)> {
    book.iter().filter_map(|item| match item {
        BookItem::Chapter(chapter) => chapter.path.as_ref().map(|path| (path, chapter)),
        _ => None,
    })
}

/// How many code blocks each page has, once preprocessed.
fn code_blocks(book: &mdbook_driver::book::Book) -> HashMap<PathBuf, usize> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut counts = HashMap::new();
    for (page, chapter) in pages(book) {
        let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
        let blocks = Parser::new_ext(&chapter.content, options)
            .filter(|event| matches!(event, Event::Start(Tag::CodeBlock(_))))
            .count();
        counts.insert(page.clone(), blocks);
    }
    counts
}

/// Text that still holds an emphasis marker beside a CJK character: a `_`
/// or `*` that CommonMark left as it is.
fn unrendered_emphasis(book: &mdbook_driver::book::Book) -> Vec<String> {
    use pulldown_cmark::{Event, Options, Parser};
    let cjk = |c: char| matches!(c, '\u{3000}'..='\u{303f}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}');
    let mut problems = Vec::new();
    for (page, chapter) in pages(book) {
        let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
        for event in Parser::new_ext(&chapter.content, options) {
            let Event::Text(text) = event else {
                continue;
            };
            let chars: Vec<char> = text.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                let beside_cjk =
                    (i > 0 && cjk(chars[i - 1])) || chars.get(i + 1).is_some_and(|&next| cjk(next));
                if matches!(c, '_' | '*') && beside_cjk {
                    let around: String = chars[i.saturating_sub(12)..(i + 12).min(chars.len())]
                        .iter()
                        .collect();
                    problems.push(format!(
                        "{}: emphasis that does not render (write <em>…</em>): {around:?}",
                        page.display()
                    ));
                    break;
                }
            }
        }
    }
    problems
}

/// Links to `page.md#id` (or `#id` on the same page) where `page` has no
/// heading whose id is `id`.
fn broken_anchors(book: &mdbook_driver::book::Book) -> Vec<String> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut ids: HashMap<PathBuf, HashSet<String>> = HashMap::new();
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new(); // (from, to, id)
    for (page, chapter) in pages(book) {
        let dir = page.parent().map(Path::to_path_buf).unwrap_or_default();
        let page_ids = ids.entry(page.clone()).or_default();
        let mut heading: Option<(Option<String>, String)> = None;
        let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
        for event in Parser::new_ext(&chapter.content, options) {
            match event {
                Event::Start(Tag::Heading { id, .. }) => {
                    heading = Some((id.map(|id| id.to_string()), String::new()));
                }
                Event::Text(text) | Event::Code(text) => {
                    if let Some((_, words)) = &mut heading {
                        words.push_str(&text);
                    }
                }
                Event::End(TagEnd::Heading(_)) => {
                    if let Some((id, words)) = heading.take() {
                        page_ids.insert(id.unwrap_or_else(|| mdbook_id(&words)));
                    }
                }
                Event::Start(Tag::Link { dest_url, .. }) => {
                    let Some((target, id)) = dest_url.split_once('#') else {
                        continue;
                    };
                    if target.contains("://") {
                        continue;
                    }
                    let to = if target.is_empty() {
                        page.clone()
                    } else {
                        normalize(&dir.join(target))
                    };
                    links.push((page.clone(), to, id.to_string()));
                }
                _ => {}
            }
        }
    }
    links
        .into_iter()
        .filter(|(_, to, id)| !ids.get(to).is_some_and(|set| set.contains(id)))
        .map(|(from, to, id)| {
            format!(
                "{}: links to {}#{id}, which has no heading with that id",
                from.display(),
                to.display()
            )
        })
        .collect()
}

/// The id mdBook gives a heading without an explicit `{#id}`: its words,
/// lower-cased, spaces as hyphens, other punctuation dropped.
fn mdbook_id(words: &str) -> String {
    words
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_lowercase().collect::<String>())
            } else if c.is_whitespace() {
                Some("-".to_string())
            } else {
                None
            }
        })
        .collect()
}

/// `a/../b.md` → `b.md`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The book at `book_root`, as it is built in `language`.
fn load(book_root: &Path, language: Option<&str>) -> Result<MDBook> {
    let toml = book_root.join("book.toml");
    let mut config =
        Config::from_disk(&toml).with_context(|| format!("cannot read {}", toml.display()))?;
    if let Some(language) = language {
        config.book.language = Some(language.to_string());
    }
    let mut book = MDBook::load_with_config(book_root, config)
        .with_context(|| format!("cannot load the book at {}", book_root.display()))?;
    if language.is_some() {
        // The same preprocessor `mdbook-gettext` runs, in-process, so the
        // check needs no installed binary (and cannot pass by skipping an
        // optional one that is missing).
        book.with_preprocessor(mdbook_i18n_helpers::preprocessors::Gettext);
    }
    Ok(book)
}

/// One message of the English book: a paragraph, heading, list item or
/// table cell, as `mdbook-xgettext` extracts it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The page, relative to `src/`.
    pub page: String,
    /// The line the message starts on.
    pub line: usize,
    /// The English text: the msgid a translation must have.
    pub msgid: String,
}

/// Every message of the English source (every page, and the titles in
/// `SUMMARY.md`): what `mdbook-xgettext` would extract today.
pub fn english_messages(book_root: &Path) -> Result<Vec<Message>> {
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

    let mut all = Vec::new();
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
            all.push(Message {
                page: page.clone(),
                line,
                msgid,
            });
        }
    }
    Ok(all)
}

/// The msgids `po/LANGUAGE.po` translates (not empty, not fuzzy).
pub fn translated(book_root: &Path, language: &str) -> Result<HashSet<String>> {
    let po = book_root.join("po").join(format!("{language}.po"));
    let catalog = polib::po_file::parse(&po)
        .map_err(|err| anyhow::anyhow!("{err}"))
        .with_context(|| format!("cannot read {}", po.display()))?;
    Ok(catalog
        .messages()
        .filter(|message| message.is_translated() && !message.is_fuzzy())
        .map(|message| message.msgid().to_string())
        .collect())
}

/// The messages of the English source that `po/LANGUAGE.po` does not
/// translate, or marks fuzzy. Each entry names the page, the line and the
/// start of the message.
pub fn untranslated(book_root: &Path, language: &str) -> Result<Vec<String>> {
    let done = translated(book_root, language)?;
    Ok(english_messages(book_root)?
        .into_iter()
        .filter(|message| !done.contains(&message.msgid))
        .map(|message| {
            let start: String = message.msgid.chars().take(60).collect();
            format!("{}:{}: {start:?}", message.page, message.line)
        })
        .collect())
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
