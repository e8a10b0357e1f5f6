"""
The generated tables a README shows in full. Each sits between two markers,

    <!-- results/sweeps/math/sizes.md -->
    ...the file's text, less its top "# " title...
    <!-- end of results/sweeps/math/sizes.md -->

and is a copy of its file, rewritten from it whenever the file changes, so that a README
never shows an older number than the file the tools wrote. The copy keeps the README's
heading level: the file's headings are shifted so that its first one lands where the
block's first heading stood.

    new_text = with_included(Path("results/README.md").read_text(), root=Path("."))
"""
import re
from pathlib import Path

BLOCK = re.compile(r"<!-- (results/\S+) -->\n(.*?)\n?<!-- end of \1 -->", flags=re.S)
HEADING = re.compile(r"^(#+) ", flags=re.M)


def included_paths(text):
    """The files (paths from the repository's root) whose copies `text` holds, in order."""
    return [m.group(1) for m in BLOCK.finditer(text)]


def block_body(file_text, shown):
    """`file_text` as a block shows it: its top "# " title taken off, its headings shifted to the
    level of the first heading in `shown` (the block as it stands), if both have one."""
    body = re.sub(r"\A# .*\n\n?", "", file_text).rstrip()
    old, new = HEADING.search(shown), HEADING.search(body)
    if old and new:
        shift = len(old.group(1)) - len(new.group(1))
        body = HEADING.sub(lambda h: "#" * max(1, len(h.group(1)) + shift) + " ", body)
    return body


def with_included(text, root):
    """`text` with every block rewritten from its file under `root`. Raises ValueError naming
    a block whose file does not exist."""
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
