"""
The generated tables a README shows in full. Each sits between two markers,

    <!-- results/sweeps/math/sizes.md -->
    ...the file's text, less its top "# " title...
    <!-- end of results/sweeps/math/sizes.md -->

and is a copy of its file, rewritten from it whenever the file changes, so that a README
never shows an older number than the file the tools wrote. The copy keeps the README's
heading level: the file's headings are shifted so that its highest one lands at the level
of the highest in the block as it stood (code fences left alone).

    new_text = with_included(Path("results/README.md").read_text(), root=Path("."))
"""
import re
from pathlib import Path

BLOCK = re.compile(r"<!-- (results/\S+) -->\n(.*?)\n?<!-- end of \1 -->", flags=re.S)
START = re.compile(r"<!-- (results/\S+) -->")
FENCE = re.compile(r"(^```.*?^```)", flags=re.M | re.S)  # code, whose "# " lines are not headings
HEADING = re.compile(r"^(#+) ", flags=re.M)


def top_level(markdown):
    """The level of the highest heading outside code fences, or None."""
    levels = [len(h.group(1)) for h in HEADING.finditer(FENCE.sub("", markdown))]
    return min(levels) if levels else None


def shift_headings(markdown, shift):
    """`markdown` with every heading outside code fences `shift` levels deeper (at least level 1)."""
    pieces = FENCE.split(markdown)  # odd pieces are the fences
    return "".join(piece if k % 2 else HEADING.sub(lambda h: "#" * max(1, len(h.group(1)) + shift) + " ", piece)
                   for k, piece in enumerate(pieces))


def included_paths(text):
    """The files (paths from the repository's root) whose copies `text` holds, in order. Raises
    ValueError for a start marker without its end marker."""
    paths = [m.group(1) for m in BLOCK.finditer(text)]
    unended = [path for path in START.findall(text) if path not in paths]
    if unended:
        raise ValueError(f"<!-- {unended[0]} --> has no <!-- end of {unended[0]} --> after it")
    return paths


def block_body(file_text, shown):
    """`file_text` as a block shows it: its top "# " title taken off, its headings shifted so that
    its highest one stands at the level of the highest in `shown` (the block as it stands; a new
    block is seeded with a heading at the level wanted), if both have one."""
    body = re.sub(r"\A# .*\n\n?", "", file_text).rstrip()
    old, new = top_level(shown), top_level(body)
    return shift_headings(body, old - new) if old and new else body


def with_included(text, root):
    """`text` with every block rewritten from its file under `root`. Raises ValueError naming
    a block whose file does not exist or a start marker without its end."""
    included_paths(text)

    def replace(match):
        path, shown = match.group(1), match.group(2)
        file = Path(root) / path
        if not file.is_file():
            raise ValueError(f"the block <!-- {path} --> shows a file that does not exist ({file})")
        return f"<!-- {path} -->\n{block_body(file.read_text(), shown)}\n<!-- end of {path} -->"
    return BLOCK.sub(replace, text)


def changed_paths(text, new_text):
    """The files whose blocks differ between `text` and `new_text` (one README before and after)."""
    before = {m.group(1): m.group(0) for m in BLOCK.finditer(text)}
    return [m.group(1) for m in BLOCK.finditer(new_text) if before.get(m.group(1)) != m.group(0)]
