"""Open an HTML file in headless Chromium and report what a reader would see go wrong."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

# Injected first into a copy of the page: it records script errors, failed
# resource loads and console errors, and after the load event writes the
# image count and how many images did not load into the DOM, which
# --dump-dom prints.
_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  String(e.message || (e.target && (e.target.src || e.target.href)) || "error")), true);
const _consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); _consoleError(...args); };
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({images: images.length, broken, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(page: Path, scratch: Path) -> dict:
    """{"images": n, "broken": n, "errors": [...]} for `page` loaded in headless Chromium."""
    html = page.read_text()
    probe = scratch / f"probe-{page.name}"
    probe.write_text(html.replace("<head>", "<head>" + _PROBE, 1))
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r'<pre id="browser-check">([^<]*)</pre>', result.stdout)
    if not found:
        raise AssertionError(f"the page never finished loading: {result.stderr[-2000:]}")
    return json.loads(found.group(1).replace("&quot;", '"'))
