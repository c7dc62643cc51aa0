"""Third-party browser files are the ones recorded in static/vendor/README.md, each with its licence,
and no page loads a script or stylesheet from a CDN (intranets are offline)."""

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
# A row of the README's file table: | `path` | `path in the tarball` | `sha256` |
FILE_ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|.*\|\s*`(?P<sha256>[0-9a-f]{64})`\s*\|\s*$")
LICENCE_NAMES = re.compile(r"^(LICEN[CS]E|COPYING)([-.].*)?$", re.IGNORECASE)
# The README and the attributes file describe the folder; they are not shipped files of a package.
NOT_SHIPPED = {"README.md", ".gitattributes"}
TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
REMOTE_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
# In a JS file, an ES module import from a URL is the same CDN dependency as a <script src>.
REMOTE_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(\s*)["'](?:https?:)?//""", re.IGNORECASE)


def listed_files() -> dict[str, str]:
    rows = (FILE_ROW.match(line) for line in (VENDOR / "README.md").read_text().splitlines())
    return {row["path"]: row["sha256"] for row in rows if row}


def remote_sources(text: str, *, is_js: bool) -> list[str]:
    found = [tag for tag in TAG.findall(text) if REMOTE_ATTRIBUTE.search(tag)]
    if is_js:
        found += [match.group(0) for match in REMOTE_IMPORT.finditer(text)]
    return found


def page_files() -> list[Path]:
    folders = [ROOT / "templates", *ROOT.glob("*/templates"), ROOT / "static" / "js"]
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def test_the_readme_lists_the_files_of_every_package():
    listed = listed_files()

    assert listed, "static/vendor/README.md has no file table"
    packages = {path.split("/")[0] for path in listed}
    assert packages == {folder.name for folder in VENDOR.iterdir() if folder.is_dir()}


def test_every_listed_file_exists_with_its_sha256():
    wrong = {}
    for path, sha256 in listed_files().items():
        file = VENDOR / path
        actual = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"
        if actual != sha256:
            wrong[path] = actual

    assert wrong == {}


def test_no_file_is_shipped_without_a_row_in_the_readme():
    """A stray file (a source map, a whole dist/) would be served without a recorded sum."""
    shipped = {
        str(path.relative_to(VENDOR)) for path in VENDOR.rglob("*") if path.is_file() and path.name not in NOT_SHIPPED
    }

    assert shipped - listed_files().keys() == set()


def test_every_package_folder_has_its_licence_file():
    without = [
        folder.name
        for folder in VENDOR.iterdir()
        if folder.is_dir() and not any(LICENCE_NAMES.match(file.name) for file in folder.iterdir() if file.is_file())
    ]

    assert without == []


def test_no_template_or_script_loads_a_script_or_stylesheet_from_a_cdn():
    remote = {}
    for path in page_files():
        found = remote_sources(path.read_text(errors="replace"), is_js=path.suffix in {".js", ".mjs"})
        if found:
            remote[str(path.relative_to(ROOT))] = found

    assert remote == {}


def test_the_cdn_guard_would_see_a_remote_script_stylesheet_or_import():
    page = """
        <script src="{% static 'vendor/jsqr/jsQR.js' %}"></script>
        <script defer src="https://cdn.example.org/leaflet.js"></script>
        <link rel="stylesheet" href='//cdn.example.org/leaflet.css'>
        <a href="https://example.org/help">help</a>
    """
    script = 'import * as echarts from "https://cdn.example.org/echarts.esm.js";\nimport("./local.js");'

    assert len(remote_sources(page, is_js=False)) == 2
    assert len(remote_sources(script, is_js=True)) == 1
