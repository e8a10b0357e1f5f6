"""
Rewrite the generated tables a README shows in full (the blocks between
<!-- results/<file> --> and <!-- end of results/<file> -->) from their files, after
a sweep's summary, tools/claims.py or tools/long_runs.py has rewritten them
(toobig/reports/included.py). With --check, rewrite nothing: list the stale blocks
and exit 1 if there are any.

    python tools/readme_tables.py                       # results/README.md
    python tools/readme_tables.py --check               # exit 1 if one is stale
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the blocks name their files from the repository's root
sys.path.insert(0, str(ROOT))  # for python tools/<tool>.py from anywhere

from configurator import FAILURES, exit_with_error, parse_args
from toobig.core.files import write_atomically
from toobig.reports.included import changed_paths, included_paths, with_included
from toobig.runs.reading import in_repository

OPTIONS = {"readme": "results/README.md", "check": False}


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        readme = in_repository(options["readme"])
        if not readme.is_file():
            raise ValueError(f"--readme={options['readme']} is not a file; give a README.md with generated tables")
        text = readme.read_text()
        if not included_paths(text):
            raise ValueError(f"--readme={options['readme']} shows no generated table "
                             f"(no <!-- results/<file> --> block); results/README.md does")
        new_text = with_included(text, ROOT)
    except FAILURES as e:
        exit_with_error(e)
    stale = changed_paths(text, new_text)
    if options["check"]:
        print(f"{options['readme']}: " + (f"stale: {', '.join(stale)}" if stale else
                                         f"all {len(included_paths(text))} tables as their files"))
        sys.exit(1 if stale else 0)
    if stale:
        write_atomically(readme, new_text)
    print(f"{options['readme']}: rewrote {len(stale)} of {len(included_paths(text))} tables"
          + (f" ({', '.join(stale)})" if stale else ""))


if __name__ == "__main__":
    main()
