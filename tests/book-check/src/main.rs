//! `cargo run -p book-check [-- LANGUAGE]`: checks the book (and the
//! edition in LANGUAGE, e.g. `zh-CN`) the way its tests do, and counts how
//! many of the English book's messages that edition translates.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

fn main() -> Result<ExitCode> {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book");
    let language = std::env::args().nth(1);
    let mut problems = book_check::problems_in(&book, language.as_deref())?;
    if let Some(language) = &language {
        let messages = book_check::english_messages(&book)?;
        let distinct: HashSet<&str> = messages.iter().map(|m| m.msgid.as_str()).collect();
        let done = book_check::translated(&book, language)?;
        let missing = distinct.iter().filter(|m| !done.contains(**m)).count();
        println!(
            "{language}: {} of the English book's {} distinct messages translated; {missing} untranslated or fuzzy",
            distinct.len() - missing,
            distinct.len(),
        );
        let untranslated = book_check::untranslated(&book, language)?;
        problems.extend(
            untranslated
                .into_iter()
                .map(|m| format!("untranslated: {m}")),
        );
    }
    for problem in &problems {
        println!("{problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
