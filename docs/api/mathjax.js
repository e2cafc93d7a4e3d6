// MathJax for the $...$ and $$...$$ of the docs pages (mkdocs.yml: pymdownx.arithmatex,
// generic mode). Only arithmatex's spans are typeset, never code or API text; textmacros
// reads \_ inside \text{} (docs/routing.md writes \text{one\_hot}, as GitHub needs).
window.MathJax = {
  loader: { load: ["[tex]/textmacros"] },
  tex: {
    packages: { "[+]": ["textmacros"] },
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
