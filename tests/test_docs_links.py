"""The README is a short front door and every relative link in it and in docs/*.md leads somewhere.

A moved or renamed docs page, a renamed heading or a deleted figure breaks a link silently; this catches it.
Anchors are checked against the target page's headings with GitHub's rule for heading ids.
"""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 170
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The page without code: fenced blocks, indented blocks and inline code spans hold no links."""
    text = FENCE.sub("", text)
    lines = [line for line in text.splitlines() if not line.startswith("    ")]
    return INLINE_CODE.sub("", "\n".join(lines))


def slug(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation and symbols dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading id of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, https:, mailto: are not checked here


def test_the_pages_exist():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    for page in ("docs/ARCHITECTURE.md", "docs/emulator.md", "docs/priot.md", "docs/study.md", "docs/vgg11.md",
                 "docs/debugging.md", "docs/installing.md"):
        assert page in names, f"{page} is missing"


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; keep it under {README_MAX_LINES}"
    assert "make run" in lines[0] and "make test" in lines[1], "the two commands must be the README's first lines"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(REPO / unquote(t.split("#")[0])).resolve() for t in relative_links(REPO / "README.md")}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(REPO)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with id #{anchor} in {dest.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_the_link_check_sees_links_and_anchors(tmp_path):
    """The checker itself: a missing file and a missing anchor are found, code is skipped, slugs are GitHub's."""
    assert slug("Speed (`make bench`)") == "speed-make-bench"
    assert slug("The emulator (`m0sim/`)") == "the-emulator-m0sim"
    page = tmp_path / "p.md"
    page.write_text("# A: b\n\n[x](q.md) [y](#a-b) [z](#nope)\n\n    [code](skip.md)\n\n`[c](skip.md)` [w](https://e.org)\n")
    assert relative_links(page) == ["q.md", "#a-b", "#nope"]
    assert anchors(page) == {"a-b"}
