"""The documents and docstrings name what exists: every `module.symbol` they mention, where the
module is one of the house's, resolves; every command the READMEs show runs (its --help)."""
import ast
import re

import pytest

from conftest import REPO, run_cli

EXTENSIONS = {"py", "md", "csv", "json", "png", "pt", "txt", "cpp", "sh", "log", "bin", "pkl"}


def house_modules():
    """{module stem: path} for the house's Python files, stems unique (the test says if not)."""
    paths = [*REPO.glob("*.py"), *REPO.glob("toobig/*/*.py"), *REPO.glob("tools/*.py")]
    stems = {}
    for path in paths:
        if path.stem != "__init__":
            assert path.stem not in stems, f"two modules named {path.stem}: {stems[path.stem]}, {path}"
            stems[path.stem] = path
    return stems


def defined(path):
    """The names a module defines at its top level, and Class.member for its classes."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)}
                names |= {f"{node.name}.{t.target.id}" for t in node.body
                          if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def prose():
    """(where, text): every Markdown document, and every docstring and comment of the house."""
    for path in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), REPO / "results/README.md"]:
        yield path.relative_to(REPO), path.read_text()
    for path in house_modules().values():
        source = path.read_text()
        comments = [line.split("#", 1)[1] for line in source.splitlines() if "#" in line]
        docstrings = [ast.get_docstring(n) or "" for n in ast.walk(ast.parse(source))
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))]
        yield path.relative_to(REPO), "\n".join(comments + docstrings)


def test_every_module_symbol_the_documents_name_exists():
    modules = house_modules()
    names = {stem: defined(path) for stem, path in modules.items()}
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(sorted(modules, key=len, reverse=True))
                         + r")\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)")
    missing = set()
    for where, text in prose():
        for module, symbol in pattern.findall(text):
            first = symbol.split(".")[0]
            if first in EXTENSIONS:
                continue
            if symbol not in names[module] and first not in names[module]:
                missing.add(f"{where}: {module}.{symbol}")
    assert not missing, sorted(missing)


def test_a_layer_named_before_a_dot_is_followed_by_one_of_its_modules():
    """`runs.x` or `training.x` in prose names a module of that layer (toobig/runs/x.py), not a symbol:
    the layers' names were once modules' names."""
    layers = {p.name: {m.stem for m in p.glob("*.py")} for p in (REPO / "toobig").iterdir() if p.is_dir()}
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(layers) + r")\.([A-Za-z_]\w*)")
    wrong = {f"{where}: {layer}.{name}" for where, text in prose() for layer, name in pattern.findall(text)
             if name not in layers[layer] and name not in EXTENSIONS}
    assert not wrong, sorted(wrong)


def shown_scripts():
    """Every script the READMEs and documents show run as `python <script> ...`, by path."""
    found = set()
    for path in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), REPO / "results/README.md"]:
        for script in re.findall(r"python (?:-m (tools\.\w+)|([\w/]+\.py))", path.read_text()):
            found.add(script[0].replace(".", "/") + ".py" if script[0] else script[1])
    return sorted(found)


def test_the_documents_show_the_scripts_that_exist():
    scripts = shown_scripts()
    assert {"train_with_eval.py", "tools/sweep.py", "tools/claims.py", "plot_all_models.py"} <= set(scripts)
    assert not [s for s in scripts if not (REPO / s).is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("script", [s for s in shown_scripts() if (REPO / s).is_file()])
def test_every_script_the_documents_show_answers_help(script):
    result = run_cli(script, "--help")
    assert result.returncode == 0 and "Traceback" not in result.stderr, (script, result.stderr)
