// A link to the same page in the other edition, added to the menu bar of
// every page. The English book is at the site's root and the Chinese one
// under zh-CN/, with the same page paths, so the other edition's page is
// this page's path with that prefix added or removed.
(function () {
    "use strict";
    var chinese = document.documentElement.lang === "zh-CN";
    // `path_to_root` is mdBook's: the relative path from this page to the
    // edition's root, e.g. "../" on ch05/echo.html.
    var root = new URL(typeof path_to_root === "string" ? path_to_root : "", window.location.href);
    var page = window.location.href.slice(root.href.length);
    var target = chinese ? new URL("../" + page, root) : new URL("zh-CN/" + page, root);

    var link = document.createElement("a");
    link.href = target.href;
    link.className = "language-picker";
    link.lang = chinese ? "en" : "zh-CN";
    link.textContent = chinese ? "English" : "中文";
    link.title = chinese ? "Read this page in English" : "阅读本页的中文版";

    var buttons = document.querySelector(".right-buttons");
    if (buttons) {
        buttons.insertBefore(link, buttons.firstChild);
    }
})();
