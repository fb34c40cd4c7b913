"""The user docs hold together: every relative link and image in README.md and docs/**/*.md
resolves to a file in the repository, the README and the results page stay short, the README
starts with the two set-up commands, and no user page names a numbered session."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README] + sorted(DOCS.rglob("*.md"))
# User pages: the README and docs/ without the dated notes.
USER_PAGES = [README] + sorted(p for p in DOCS.rglob("*.md") if "notes" not in p.relative_to(DOCS).parts)

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the target may carry a "title" or be in <angle brackets>.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_SRC = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, https:, mailto:, …


def prose_lines(text):
    """The lines outside fenced code blocks, with inline code spans removed."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, CODE_SPAN.sub("", line)


def link_targets(text):
    for number, line in prose_lines(text):
        for pattern in (INLINE_LINK, REFERENCE_DEF, HTML_SRC):
            for match in pattern.finditer(line):
                yield number, match.group(1).strip("<>")


def relative_targets(page):
    for number, target in link_targets(page.read_text(encoding="utf-8")):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path:
            yield number, target, path


def test_the_link_parser_finds_links_and_images_outside_code():
    text = (
        "See [a](docs/a.md#part), ![curve](img/c.png \"title\") and [b](<with space.md>).\n"
        "[ref]: notes/r.md\n"
        "<img src=\"img/d.png\"> [web](https://example.org) [mail](mailto:x@y.z) [top](#top)\n"
        "`[not](code.md)`\n"
        "```\n[not](fenced.md)\n```\n"
    )
    found = sorted(t for _, t in link_targets(text))
    assert found == sorted(["docs/a.md#part", "img/c.png", "with space.md", "notes/r.md",
                            "img/d.png", "https://example.org", "mailto:x@y.z", "#top"])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    broken = []
    for number, target, path in relative_targets(page):
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT):
            broken.append(f"line {number}: {target} points outside the repository")
        elif not resolved.exists():
            broken.append(f"line {number}: {target} does not exist")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_readme_is_at_most_150_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 150, f"README.md has {n} lines"


def test_results_page_is_at_most_200_lines():
    n = len((DOCS / "results.md").read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"docs/results.md has {n} lines"


def test_readme_starts_with_the_two_set_up_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), "the README starts with its title"
    rest = [line for line in lines[1:] if line.strip()]
    assert FENCE.match(rest[0]), "the first thing after the title is the set-up block"
    end = next(i for i in range(1, len(rest)) if FENCE.match(rest[i]))
    block = rest[1:end]
    assert len(block) == 2, block
    assert block[0].startswith("scripts/run.sh"), block
    assert block[1].startswith("scripts/test.sh"), block


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_pages_name_no_session(page):
    hits = [f"line {n}: {line.strip()}"
            for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"\bsessions? [0-9]", line, re.IGNORECASE)]
    assert not hits, f"{page.relative_to(ROOT)} names a numbered session:\n" + "\n".join(hits)
