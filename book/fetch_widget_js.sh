#!/usr/bin/env bash
# Fetch the browser-side assets the static book needs, so that no page loads
# anything from a CDN:
#   - @jupyter-widgets/html-manager: the standalone embed.js (no require.js)
#     plus the Font Awesome files it names, for kernel-free widgets;
#   - mathjax: Sphinx would otherwise load it from jsDelivr on pages with math.
# Everything lands in book/widgets_js/ (git-ignored; Sphinx copies it to _static/).
# Idempotent: does nothing when the pinned versions are already in place.
set -euo pipefail

HTML_MANAGER="1.0.15"   # html-manager 1.0.x matches ipywidgets 8.1
MATHJAX="3.2.2"         # the "mathjax@3" Sphinx 7 uses by default
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${HERE}/widgets_js"
STAMP="${DEST}/.versions"
WANT="html-manager ${HTML_MANAGER}, mathjax ${MATHJAX}"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]]; then
    echo "widgets_js: ${WANT} already present in ${DEST}"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT

# unpack NAME VERSION: npm pack only downloads the tarball (no install scripts).
unpack() {
    mkdir -p "${TMP}/$1"
    (cd "${TMP}/$1" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz)
    echo "${TMP}/$1/package"
}

rm -rf "${DEST}"
mkdir -p "${DEST}/mathjax/output/chtml/fonts" "${DEST}/mathjax/input/tex"

DIST="$(unpack @jupyter-widgets/html-manager "${HTML_MANAGER}")/dist"
cp "${DIST}/embed.js" "${DIST}/embed.js.LICENSE.txt" "${DEST}/"
# embed.js resolves its font files relative to its own URL, so copy every
# font it names into the same folder (else the browser gets 404s).
grep -oE '[0-9a-f]{20}\.(woff2|woff|ttf|eot|svg)' "${DIST}/embed.js" | sort -u |
while read -r font; do
    cp "${DIST}/${font}" "${DEST}/"
done

# MathJax loads fonts and TeX extensions lazily, relative to its own URL.
ES5="$(unpack mathjax "${MATHJAX}")/es5"
cp "${ES5}/tex-mml-chtml.js" "${ES5}/../LICENSE" "${DEST}/mathjax/"
cp -r "${ES5}/output/chtml/fonts/woff-v2" "${DEST}/mathjax/output/chtml/fonts/"
cp -r "${ES5}/input/tex/extensions" "${DEST}/mathjax/input/tex/"
cp -r "${ES5}/ui" "${ES5}/a11y" "${DEST}/mathjax/"

echo "${WANT}" > "${STAMP}"
echo "widgets_js: installed ${WANT} into ${DEST}"
