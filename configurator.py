"""
nanoGPT-style configuration: `python script.py [config/file.py ...] [--key=value ...]`.

A config file is plain Python whose top-level assignments override the script's
defaults; `--key=value` (or `--key value`) overrides both, wherever it stands. Unlike nanoGPT's exec-into-globals, the
result is returned as a dict, and every mistake is a one-line error
(`ConfigError`) that the CLIs print and exit with code 2, without a traceback.
"""
import ast
import difflib
import sys
from pathlib import Path


class ConfigError(ValueError):
    pass


# What a CLI answers in one line (exit_with_error) rather than with a traceback: bad input
# (ValueError, ConfigError among them) and the machine's failures that need no torch to name: a
# full disk, a read-only folder, a missing file (OSError), memory. devices.MACHINE_ERRORS adds torch's.
FAILURES = (ValueError, OSError, MemoryError)


def exit_with_error(message):
    """What every CLI does with bad input or an expected failure of the machine: one line on
    stderr (the first of the message), exit code 2."""
    lines = str(message).strip().splitlines() or [type(message).__name__]
    print(f"error: {lines[0]}", file=sys.stderr)
    sys.exit(2)


def _unknown_key(key, allowed):
    if not allowed:
        return ConfigError(f"unknown option --{key}; this tool takes no options but --help")
    close = difflib.get_close_matches(key, allowed, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _typename(value):
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def coerce(key, raw, default):
    """Turn a command-line string into a value of the default's type."""
    if isinstance(default, str):
        return raw  # strings are taken verbatim: --start=123 stays "123"
    if isinstance(default, bool):
        if raw in ("True", "true", "1"):
            return True
        if raw in ("False", "false", "0"):
            return False
        raise ConfigError(f"--{key}={raw}: expected a bool (True or False)")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if isinstance(default, float) and raw.strip().lower() in ("nan", "inf", "-inf", "+inf"):
        value = float(raw)  # a float, which the script then judges (training refuses non-finite values)
    return check_type(key, value, default, shown=f"--{key}={raw}")


def check_type(key, value, default, shown=None):
    shown = shown or f"{key} = {value!r}"
    if default is None:  # a key whose default is None takes any value; the script checks it
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(default):
        raise ConfigError(f"{shown}: expected {_typename(default)}, got {_typename(value)}")
    return value


def load_config_file(path, defaults):
    """The keys a config file sets. Like nanoGPT's, a config file may define helpers: names it
    imports, and functions, classes and modules, are not keys; any other unknown name is an error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    source = path.read_text()
    namespace = {}
    try:
        tree = ast.parse(source, str(path))
        exec(compile(tree, str(path), "exec"), namespace)
    except Exception as e:  # a config file is user code: report where it broke, in one line
        raise ConfigError(f"config file {str(path)!r} failed: {type(e).__name__}: {e}") from None
    imported = {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    overrides = {}
    for key, value in namespace.items():
        if key.startswith("_") or key in imported or callable(value) or type(value).__name__ == "module":
            continue
        if key not in defaults:
            raise _unknown_key(key, defaults) from None
        overrides[key] = check_type(key, value, defaults[key], shown=f"{path}: {key} = {value!r}")
    return overrides


BOOL_WORDS = ("True", "true", "1", "False", "false", "0")


def usage(defaults):
    """The running script's docstring and its options with their defaults: what --help prints."""
    doc = (getattr(sys.modules.get("__main__"), "__doc__", None) or "").strip()
    options = "\n".join(f"  --{key}={value!r}" for key, value in defaults.items())
    return f"{doc}\n\noptions (default):\n{options}" if doc else f"options (default):\n{options}"


def parse_overrides(defaults, argv, allow_config_files=True, positional=None):
    """The values config files and --key=value (or --key value) options set, as a dict of only
    those keys: config files in the order given, then every option, wherever it stands, over
    them (nanoGPT's precedence). A bare --flag switches a bool on; --help (or -h) prints the
    usage and exits 0. With a `positional` list, arguments that are not options are collected
    there (run folders, or configs each trained as its own run) instead of read as config files."""
    if "--help" in argv or "-h" in argv:
        print(usage(defaults))
        sys.exit(0)
    from_files, from_options = {}, {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            if positional is not None:
                positional.append(arg)
                continue
            if not allow_config_files:
                raise ConfigError(f"unexpected argument {arg!r}; options are --key=value or --key value")
            from_files.update(load_config_file(arg, defaults))
            continue
        key, sep, raw = arg[2:].partition("=")
        if key not in defaults:
            raise _unknown_key(key, defaults)
        if not sep:
            is_bool = isinstance(defaults[key], bool)
            if args and not args[0].startswith("--") and (not is_bool or args[0] in BOOL_WORDS):
                raw = args.pop(0)  # --key value
            elif is_bool:
                from_options[key] = True
                continue
            else:
                raise ConfigError(f"--{key} needs a value: --{key}=<{type(defaults[key]).__name__}>")
        from_options[key] = coerce(key, raw, defaults[key])
    return {**from_files, **from_options}


def parse_args(defaults, argv, allow_config_files=True, positional=None):
    """The defaults with what config files and options set (parse_overrides)."""
    return {**defaults, **parse_overrides(defaults, argv, allow_config_files, positional)}
