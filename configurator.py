"""
nanoGPT-style configuration: `python script.py [config/file.py ...] [--key=value ...]`.

A config file is plain Python whose top-level assignments override the script's
defaults; `--key=value` (or `--key value`) overrides both. Unlike nanoGPT's exec-into-globals, the
result is returned as a dict, and every mistake is a one-line error
(`ConfigError`) that the CLIs print and exit with code 2, without a traceback.
"""
import ast
import difflib
import sys
from pathlib import Path


class ConfigError(ValueError):
    pass


def exit_with_error(message):
    """What every CLI does with bad input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _unknown_key(key, allowed):
    close = difflib.get_close_matches(key, allowed, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _typename(value):
    return type(value).__name__


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
    return check_type(key, value, default, shown=f"--{key}={raw}")


def check_type(key, value, default, shown=None):
    shown = shown or f"{key} = {value!r}"
    if default is None:  # a key whose default is None takes any value; the script checks it
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(default):
        raise ConfigError(f"{shown}: expected a {_typename(default)}, got a {_typename(value)}")
    return value


def load_config_file(path, defaults):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    namespace = {}
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    except Exception as e:  # a config file is user code: report where it broke, in one line
        raise ConfigError(f"config file {str(path)!r} failed: {type(e).__name__}: {e}") from None
    overrides = {}
    for key, value in namespace.items():
        if key.startswith("_") or type(value).__name__ == "module":
            continue
        if key not in defaults:
            raise _unknown_key(key, defaults) from None
        overrides[key] = check_type(key, value, defaults[key], shown=f"{path}: {key} = {value!r}")
    return overrides


BOOL_WORDS = ("True", "true", "1", "False", "false", "0")


def parse_overrides(defaults, argv, allow_config_files=True):
    """The values config files and --key=value (or --key value) options set, in order,
    as a dict of only those keys; a bare --flag switches a bool on."""
    overrides = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            if not allow_config_files:
                raise ConfigError(f"unexpected argument {arg!r}; options are --key=value or --key value")
            overrides.update(load_config_file(arg, defaults))
            continue
        key, sep, raw = arg[2:].partition("=")
        if key not in defaults:
            raise _unknown_key(key, defaults)
        if not sep:
            is_bool = isinstance(defaults[key], bool)
            if args and not args[0].startswith("--") and (not is_bool or args[0] in BOOL_WORDS):
                raw = args.pop(0)  # --key value
            elif is_bool:
                overrides[key] = True
                continue
            else:
                raise ConfigError(f"--{key} needs a value: --{key}=<{_typename(defaults[key])}>")
        overrides[key] = coerce(key, raw, defaults[key])
    return overrides


def parse_args(defaults, argv, allow_config_files=True):
    """The defaults with what config files and options set."""
    return {**defaults, **parse_overrides(defaults, argv, allow_config_files)}
