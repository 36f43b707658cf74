#!/usr/bin/env bash
# The Chinese edition, built from the same pages with po/zh-CN.po:
#
#   book/zh-CN.sh          builds it into book/build/zh-CN (build the English
#                          book first: `mdbook build book` empties book/build)
#   book/zh-CN.sh serve    serves it at http://localhost:3000, rebuilding as
#                          files change (Ctrl-C stops it)
#   book/zh-CN.sh update   after English prose changed: extracts the English
#                          messages and merges them into po/zh-CN.po, where a
#                          changed message is then marked fuzzy and a new one
#                          is empty; `cargo run -p book-check -- zh-CN` lists
#                          what is left to translate
set -euo pipefail
cd "$(dirname "$0")"
needs() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "book/zh-CN.sh needs $1: $2" >&2
        exit 1
    fi
}
needs mdbook-gettext "cargo install --locked mdbook-i18n-helpers --version 0.4.0"
case "${1:-build}" in
build | serve)
    export MDBOOK_BOOK__LANGUAGE=zh-CN
    export MDBOOK_BOOK__TITLE="一个回显服务器，五种写法：Rust 中的 I/O 模型"
    exec mdbook "${1:-build}" -d build/zh-CN .
    ;;
update)
    needs msgmerge "apt-get install gettext"
    pot=$(mktemp -d)
    trap 'rm -rf "$pot"' EXIT
    # Granularity 0: one message per paragraph, whatever its line breaks.
    MDBOOK_BUILD__USE_DEFAULT_PREPROCESSORS=false \
        MDBOOK_OUTPUT='{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}' \
        mdbook build -d "$pot" .
    msgmerge --quiet --update --backup=none --no-wrap po/zh-CN.po "$pot/messages.pot"
    msgfmt --statistics -o /dev/null po/zh-CN.po
    ;;
*)
    echo "usage: book/zh-CN.sh [build | serve | update]" >&2
    exit 2
    ;;
esac
