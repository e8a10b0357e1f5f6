"""
The study's figures and tables from the runs under --root (SPEC §5-6):
grid_math.png, grid_facts.png, grid_combined.png, each a 2x2 grid of n14, n28,
n56 and MLT, and tables.md with Tables 2-4, our numbers beside the paper's.

    python plot_all_models.py --root=out --out=results
    python plot_all_models.py --root=out --out=results --suffix=_wd   # the *_wd runs -> grid_math_wd.png, tables_wd.md

Needs only each run's results.csv and run.json. A run not there (yet) is an
empty "not run" panel and a dash in the tables.
"""
from pathlib import Path

from configurator import exit_with_error, parse_args_or_exit
from plot_results import DASH, MAX_ITERS, TASK_TITLES, best_row, format_params, load_run, make_figure, model_label

DEFAULTS = dict(
    root="out",      # the folder holding the run folders ({math,facts,both}_{mini_14,mini_28,mini_56,mlt}{suffix})
    out="results",   # where the figures and tables.md go
    suffix="",       # run-name suffix, e.g. _wd; also added to the output names
)

MODELS = ("mini_14", "mini_28", "mini_56", "mlt")
# run-folder prefix -> (dataset, figure name, table title, table columns)
TASKS = {
    "math": ("as_math", "grid_math", "Table 2: arithmetic only", ("addition", "subtraction", "(5,7)")),
    "facts": ("facts_char", "grid_facts", "Table 3: facts only", ("facts",)),
    "both": ("both_math_and_facts", "grid_combined", "Table 4: both tasks jointly",
             ("addition", "subtraction", "facts", "combined", "(5,7)")),
}
# The paper's reference numbers (SPEC §5, single seed) as printed there: params, then the table's columns.
PAPER = {
    "math": {"n14": ("1.46k", "100.0%", "100.0%", "40/40"), "n28": ("5.26k", "98%", "98%", "0/40"),
             "n56": ("19.94k", "98%", "98%", "0/40"), "MLT": ("10.63M", "98%", "98%", "0/40")},
    "facts": {"n14": ("1.93k", "8.2%"), "n28": ("6.22k", "100.0%"), "n56": ("21.84k", "100.0%"),
              "MLT": ("10.64M", "100.0%")},
    "both": {"n14": ("2.14k", "31.2%", "39.4%", "2.0%", "28.6%", "0/40"),
             "n28": ("6.64k", "95.0%", "97%", "87.6%", "94.3%", "0/40"),
             "n56": ("22.68k", "98%", "98%", "100.0%", "98.4%", "0/40"),
             "MLT": ("10.65M", "98%", "98%", "100.0%", "98.4%", "0/40")},
}
PARTS = {"addition": "add", "subtraction": "sub", "facts": "facts"}


def load_runs(root, suffix):
    """{(task, model): run or None} for the twelve runs of one variant."""
    return {(task, model): load_run(Path(root) / f"{task}_{model}{suffix}") for task in TASKS for model in MODELS}


def grid_figure(runs, task, suffix=""):
    """The 2x2 figure of one task; returns the matplotlib Figure."""
    title = TASK_TITLES[TASKS[task][0]] + (f" (runs *{suffix})" if suffix else "")
    return make_figure([(model_label(m), runs[task, m]) for m in MODELS], title, 2, 2, figsize=(10, 8))


def cell(results, i, column):
    """Our value of one table column at evaluation i, written like the paper's."""
    if column == "(5,7)":
        correct, total = results["heldout_correct"][i], results["heldout_total"][i]
        return f"{correct:.0f}/{total:.0f}" if total > 0 else DASH
    if column == "combined":
        return f"{100 * results['combined_acc'][i]:.1f}%"
    correct, total = results[f"{PARTS[column]}_correct"][i], results[f"{PARTS[column]}_total"][i]
    return f"{100 * correct / total:.1f}%" if total > 0 else DASH


def tables_markdown(runs, suffix=""):
    lines = [f"# Tables 2-4{f' (runs *{suffix})' if suffix else ''}", "",
             "Each entry is the evaluation with the best combined accuracy over the run (ties: the earliest), "
             "at iteration `best iter`; `(paper)` columns are Barron & White (2025), SPEC §5."
             + (" The paper reports numbers for its main runs only, so beside these runs they are a reference, "
                "not the same experiment." if suffix else ""), ""]
    for task, (_, _, title, columns) in TASKS.items():
        header = ["model", "params", "params (paper)", "best iter"]
        header += [name for column in columns for name in (column, f"{column} (paper)")]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        unfinished = []
        for model in MODELS:
            label, run = model_label(model), runs[task, model]
            paper = PAPER[task][label]
            i = None if run is None else best_row(run["results"])
            if i is None:
                ours = [DASH] * (len(columns) + 2)
            else:
                # a run still training is marked: its best may yet change
                mark = "*" if run["info"].get("finished") is False else ""
                if mark:
                    max_iters = run["info"].get("config", {}).get("max_iters", MAX_ITERS)
                    unfinished.append(f"{label} to iteration {run['results']['iter'][-1]:,.0f} of {max_iters:,}")
                ours = [format_params(run["info"].get("n_params")), f"{run['results']['iter'][i]:.0f}{mark}"]
                ours += [cell(run["results"], i, column) for column in columns]
            row = [label, ours[0], paper[0], ours[1]] + [v for pair in zip(ours[2:], paper[1:]) for v in pair]
            lines.append("| " + " | ".join(row) + " |")
        if unfinished:
            lines += ["", f"\\* run not finished ({'; '.join(unfinished)}): the best of its evaluations so far."]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    config = parse_args_or_exit(DEFAULTS, argv, allow_config_files=False)
    root, out, suffix = Path(config["root"]), Path(config["out"]), config["suffix"]
    if not root.is_dir():
        exit_with_error(f"--root={root} is not a folder")
    try:
        runs = load_runs(root, suffix)
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        exit_with_error(e)
    for task, (_, name, _, _) in TASKS.items():
        grid_figure(runs, task, suffix).savefig(out / f"{name}{suffix}.png")
    (out / f"tables{suffix}.md").write_text(tables_markdown(runs, suffix), encoding="utf-8")
    missing = [f"{task}_{model}{suffix}" for (task, model), run in runs.items() if run is None]
    print(f"wrote {out}/grid_{{math,facts,combined}}{suffix}.png and {out / f'tables{suffix}.md'} "
          f"from {len(runs) - len(missing)} of {len(runs)} runs"
          + (f"; not run: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
