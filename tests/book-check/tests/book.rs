//! The real book resolves; a book with a broken listing does not.

// The scratch-book helper below is not itself a #[test]; a failed IO call
// in it is a failed test all the same.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_listing_in_the_book_resolves() {
    let problems = book_check::problems(&workspace().join("book")).unwrap();
    assert!(
        problems.is_empty(),
        "the book has broken listings:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_listing_and_link_in_the_chinese_edition_resolves() {
    let problems = book_check::problems_in(&workspace().join("book"), Some("zh-CN")).unwrap();
    assert!(
        problems.is_empty(),
        "the Chinese edition has broken listings or links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_chinese_edition_translates_every_message() {
    let missing = book_check::untranslated(&workspace().join("book"), "zh-CN").unwrap();
    assert!(
        missing.is_empty(),
        "{} messages of the English book are untranslated or fuzzy in book/po/zh-CN.po \
         (see the README's \"Translations\" for how to update it):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// Builds a one-page book in a scratch directory whose page includes
/// `include` from a source file holding `source`.
fn scratch_book(name: &str, source: &str, include: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("book/src")).unwrap();
    fs::create_dir_all(dir.join("code")).unwrap();
    fs::write(dir.join("book/book.toml"), "[book]\ntitle = \"scratch\"\n").unwrap();
    fs::write(
        dir.join("book/src/SUMMARY.md"),
        "# Summary\n\n- [Page](page.md)\n",
    )
    .unwrap();
    fs::write(
        dir.join("book/src/page.md"),
        format!("# Page\n\n```rust\n{include}\n```\n"),
    )
    .unwrap();
    fs::write(dir.join("code/lib.rs"), source).unwrap();
    dir.join("book")
}

const SOURCE: &str = "// ANCHOR: here\nfn here() {}\n// ANCHOR_END: here\n";

#[test]
fn a_good_anchor_passes() {
    let book = scratch_book("good", SOURCE, "{{#include ../../code/lib.rs:here}}");
    assert_eq!(book_check::problems(&book).unwrap(), Vec::<String>::new());
}

#[test]
fn a_missing_anchor_is_caught() {
    let book = scratch_book(
        "missing-anchor",
        SOURCE,
        "{{#include ../../code/lib.rs:renamed}}",
    );
    let problems = book_check::problems(&book).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("code block is empty")),
        "{problems:?}"
    );
}

#[test]
fn a_missing_file_is_caught() {
    let book = scratch_book(
        "missing-file",
        SOURCE,
        "{{#include ../../code/gone.rs:here}}",
    );
    let problems = book_check::problems(&book).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("unresolved directive")),
        "{problems:?}"
    );
}

#[test]
fn a_link_to_a_missing_heading_is_caught() {
    let book = scratch_book(
        "missing-heading",
        SOURCE,
        "{{#include ../../code/lib.rs:here}}",
    );
    let page = book.join("src/page.md");
    let text = fs::read_to_string(&page).unwrap();
    fs::write(
        &page,
        format!("{text}\n## Present {{#present}}\n\n[ok](#present) [gone](page.md#absent)\n"),
    )
    .unwrap();
    let problems = book_check::problems(&book).unwrap();
    assert_eq!(
        problems,
        vec!["page.md: links to page.md#absent, which has no heading with that id".to_string()]
    );
}

#[test]
fn an_anchor_without_its_end_is_caught() {
    let book = scratch_book(
        "unclosed",
        "// ANCHOR: here\nfn here() {}\n",
        "{{#include ../../code/lib.rs:here}}",
    );
    let problems = book_check::problems(&book).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ANCHOR: here has no ANCHOR_END")),
        "{problems:?}"
    );
}
