#!/usr/bin/env bash
# The README's screenshots of the pages (docs/screenshots/), taken by the browser test of the
# article's story on a phone-sized screen: run after changing how the pages look.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screenshots
CREDITLINE_WEB_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q \
  -p no:cacheprovider tests/e2e/test_web_browser.py -k article_story
ls -l docs/screenshots
