"""
Train a grid of runs built from a task's small-model config, varying the width
(n_embd) and the seed, then summarize them: is n14's generalization a property
of its size or the luck of one seed, and where do the transitions lie?

    python tools/sweep.py --task=math --sizes=8,10,12,14,16,20,28 --seeds=1,2,3,4,5 --out=out/sweep_math
    python tools/sweep.py --task=facts --sizes=10,12,14,16,18,20,24,28 --seeds=1,2,3 --out=out/sweep_facts
    python tools/sweep.py --task=math --sizes=14 --seeds=1,2 --weight_decays=0.0,0.1 --max_iters=5000
    python tools/sweep.py --task=math --sizes=28 --seeds=1,2,3 --init_scales=0.25,0.5 --out=out/sweep_init_scale
    python tools/sweep.py --task=math --sizes=14,28 --seeds=1,2,3 --held_outs=1:2,0:9,3:8 --out=out/sweep_held_out
    python tools/sweep.py --task=math --sizes=28 --seeds=1,2,3 --weight_norms=15,40 --out=out/sweep_weight_norm
    python tools/sweep.py --task=math --sizes=14,28 --seeds=1,2,3,4,5 --keep_evals --out=out/sweep_progress
    python tools/sweep.py --task=math --sizes=28 --seeds=1,2 --max_iters=300000 --lr_decay_iters=300000 --eval_interval=1000
    python tools/sweep.py --task=random_math --sizes=14 --seeds=1,2,3 --table_sizes=400,800,1600 --out=out/capacity_n14
    python tools/sweep.py ... --shard=3/8     # only the 4th of 8 interleaved parts (e.g. a Slurm array task)
    python tools/sweep.py ... --summarize_only

Each run is an ordinary run folder <out>/<task>_n<size>_s<seed>[_wd<wd>][_is<scale>][_wn<norm>][_ho<ab>][_dg][_t<table>]
with results.csv and run.json; finished runs are skipped, partial ones resume. On
CPU the runs go through a process pool (--jobs processes, --threads each); on
CUDA, runs of one shape are trained together as one stacked model (toobig/training/stacked.py).
The base config and train_with_eval.py are found beside this file, whatever the
working directory; --out is relative to the working directory.

Several sweeps may work on one --out at once (shards, or the same command
twice): each run's state is decided as a sweep takes the run up, holding it
(pool.held_run), so a run another sweep has finished is skipped, never trained
again (--overwrite only replaces runs made with another config); a run another
process is training is left for later, then waited for. A sweep holds the sweep
folder (shared) while it trains, and the summary is written by the sweep that
ends last, from what is on disk then: one that ends while another is still
training runs of the folder says so and leaves the summary to that one.
Afterwards the sweep folder gets summary.csv, phase.png, sizes.md (the seeds
of each size, counted), for arithmetic inside.png (tools/inspect_model.py's measures
against the held-out count) and timing.png (is the held-out rule found before or
after the training sums are fit?), and for facts capacity.md, computed from every
run folder of the grid that exists; figures and counts use finished runs only.
The random-answer tasks (random_math, random_facts: issue 39's capacity in bits) train
from their paper task's n14 config on tables of --table_sizes lines (run names get
_t<size>), and their summary is tools/capacity.py's: capacity.csv, capacity.md, capacity.png.
The one-operation tables (math_add, math_sub: the arithmetic table cut to one operation, issue 39's
prediction) train from the arithmetic config; their summary is operations.csv and operations.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, for python tools/<tool>.py from anywhere

import itertools
from contextlib import ExitStack

from configurator import exit_with_error, load_config_file, parse_args
from toobig import REPO
from toobig.core.devices import MACHINE_ERRORS, pick_device
from toobig.training.pool import HELD, check_pool, check_states, held_run, locked_folder, train_all
from toobig.core.files import write_atomically, write_figure
from toobig.reports.sweep_figures import inside_figure, norms_figure, pairs_figure, phase_figure, timing_figure
from toobig.analysis.capacity_summary import capacity_row
from toobig.analysis.operation_summary import operation_csv, operation_row, operation_table
from toobig.analysis.sweep_summary import capacity_report, sizes_table, summarize_run, write_summary
from toobig.reports.capacity_report import write_capacity_report
from toobig.study.tasks import OPERATION_TASKS, RANDOM_TASKS, TASKS, parse_held_out, task_named
from toobig.study.training_config import DEFAULTS, resolve, validate


OPTIONS = dict(
    task="math",          # math, facts, both (the base config is the repository's config/train_<task>_mini_14.py),
                          # random_math or random_facts (their paper task's base config, on a random-answer table),
                          # math_add or math_sub (the arithmetic config, on the table of one operation)
    sizes="8,10,12,14,16,20,28",
    seeds="1,2,3,4,5",
    weight_decays="",     # e.g. 0.0,0.1; empty: the config's
    init_scales="",       # e.g. 0.25,0.5 (run names get _is0.25); empty: the config's, 1
    weight_norms="",      # e.g. 15,40: every weight held at that norm (run names get _wn15); empty: the config's, free
    held_outs="",         # held-out pairs, e.g. 5:7,1:2 (run names get _ho57, _ho12); empty: the config's, 5:7
    table_sizes="",       # random_math, random_facts: the tables' lines, e.g. 400,800,1600 (run names get _t400)
    decay_gains=False,    # weight decay on the LayerNorm gains too (run names get _dg)
    keep_evals=False,     # also keep every evaluation's weights, <run>/evals/ (tools/progress.py)
    max_iters=30000,
    lr_decay_iters=0,     # 0: the config's (the floor from 25,000 on); e.g. 300000 stretches the cosine to a longer run
    eval_interval=0,      # 0: the config's, 250; e.g. 1000 keeps a long run's files small
    out="",               # default: out/sweep_<task> (in the working directory, as every path given)
    jobs=2,               # CPU: processes in the pool
    threads=1,            # CPU: threads per process
    stack=64,             # CUDA: most models trained together in one stack
    shard="0/1",          # i/N: run only runs i, i+N, i+2N, ... of the grid (0 <= i < N)
    device="auto",
    compile=True,         # torch.compile each run (off for very short runs)
    summarize_only=False,
    overwrite=False,      # replace a run made with another config in a grid run's folder
)


def parse_list(name, text, kind):
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name}={text}: expected a comma-separated list of {kind.__name__}s") from None


def parse_shard(text):
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise ValueError(f"--shard={text}: expected i/N with 0 <= i < N, e.g. --shard=0/4")
    return int(index), int(count)


def grid(options):
    """[(label, train_with_eval args, config)] for every run of the sweep, in a fixed order."""
    try:
        task = task_named(options["task"])
    except ValueError:
        names = [t.name for t in (*TASKS.values(), *RANDOM_TASKS.values(), *OPERATION_TASKS.values())]
        raise ValueError(f"--task={options['task']} is not allowed; choose one of {', '.join(names)}") from None
    random = task.dataset in RANDOM_TASKS  # a random-answer table in its paper task's format
    variant = random or task.dataset in OPERATION_TASKS  # trained from its paper task's config
    base = str(REPO / "config" /  # the repository's, whatever the working directory
               f"train_{TASKS[task.like].name if variant else task.name}_mini_14.py")
    base_config = resolve({**DEFAULTS, **load_config_file(base, DEFAULTS)})
    out = options["out"] or f"out/sweep_{options['task']}"
    decays = parse_list("weight_decays", options["weight_decays"], float) or [None]
    scales = parse_list("init_scales", options["init_scales"], float) or [None]
    norms = parse_list("weight_norms", options["weight_norms"], float) or [None]
    if any(norm is not None and not norm > 0 for norm in norms):  # 0 is the free norm: a run named _wn0 would lie
        raise ValueError(f"--weight_norms={options['weight_norms']}: each held norm must be above 0 (leave the "
                         f"option out for the free norm)")
    pairs = [parse_held_out(p) for p in parse_list("held_outs", options["held_outs"], str)] or [None]
    tables = parse_list("table_sizes", options["table_sizes"], int) or [None]
    if tables != [None] and not random:
        raise ValueError(f"--table_sizes={options['table_sizes']} applies to the random-answer tasks "
                         f"({', '.join(t.name for t in RANDOM_TASKS.values())}), not --task={options['task']}")
    if tables == [None] and random:
        raise ValueError(f"--task={options['task']} trains on random tables: give their sizes, e.g. "
                         f"--table_sizes=400,800,1600")
    runs = []
    for pair, table in itertools.product(pairs, tables):
        for size in parse_list("sizes", options["sizes"], int):
            for decay, scale, norm in itertools.product(decays, scales, norms):
                for seed in parse_list("seeds", options["seeds"], int):
                    name = (f"{options['task']}_n{size}_s{seed}" + ("" if decay is None else f"_wd{decay:g}")
                            + ("" if scale is None else f"_is{scale:g}") + ("" if norm is None else f"_wn{norm:g}")
                            + ("" if pair is None else f"_ho{pair[0]}{pair[1]}")
                            + ("_dg" if options["decay_gains"] else "") + ("" if table is None else f"_t{table}"))
                    overrides = {"n_embd": size, "seed": seed, "out_dir": f"{out}/{name}",
                                 "max_iters": options["max_iters"], "device": options["device"],
                                 "compile": options["compile"], "keep_evals": options["keep_evals"]}
                    for key, value in (("weight_decay", decay), ("init_scale", scale), ("weight_norm", norm),
                                       ("lr_decay_iters", options["lr_decay_iters"] or None),
                                       ("eval_interval", options["eval_interval"] or None), ("table_size", table),
                                       ("dataset", task.dataset if variant else None)):
                        if value is not None:
                            overrides[key] = value
                    if pair is not None:
                        overrides["held_out"] = f"{pair[0]}:{pair[1]}"
                    if options["decay_gains"]:
                        if not (base_config["weight_decay"] if decay is None else decay):
                            raise ValueError("--decay_gains needs a weight decay above 0 (e.g. --weight_decays=0.1)")
                        overrides["decay_gains"] = True
                    args = [base] + [f"--{k}={v}" for k, v in overrides.items()]
                    runs.append((name, args, {**base_config, **overrides}))
    return runs, Path(out)


def check_grid_covers(out, runs):
    """For --summarize_only: refuse a grid that leaves out run folders under `out`, or finds none
    (a summary of fewer runs would replace the sweep's)."""
    names = {name for name, _, _ in runs}
    present = sorted(p.name for p in out.iterdir() if (p / "results.csv").is_file()) if out.is_dir() else []
    left_out = [name for name in present if name not in names]
    if left_out:
        raise ValueError(f"{out} holds runs this grid leaves out ({', '.join(left_out[:3])}"
                         f"{', ...' if len(left_out) > 3 else ''}); give the --sizes, --seeds, --weight_decays, "
                         f"--init_scales, --weight_norms, --held_outs and --table_sizes the sweep was made with")
    if not present:
        raise ValueError(f"no run of this sweep has results under {out}")


def train_stacks(runs, device, stack, overwrite=False):
    """CUDA: train runs of one shape and one text together (same width, weight decay, init scale,
    held-out pair and table), up to `stack` at once, each run held and decided as it is taken up
    (pool.held_run). Runs other processes hold are taken up again, waiting for them, at the end.
    Returns the number of runs that diverged."""
    check_states(runs, overwrite)  # every refusal before any training
    failed, pending = 0, list(runs)
    for wait in (False, True):
        if wait:
            # waiting while holding other runs: every sweep takes runs up in one order (their
            # folders' paths), so two sweeps never each wait for a run the other holds
            pending.sort(key=lambda run: str(Path(run[2]["out_dir"]).resolve()))
        groups = {}
        for run in pending:
            config = run[2]
            groups.setdefault((config["n_embd"], config["weight_decay"], config["init_scale"], config["held_out"],
                               config["table_size"]), []).append(run)
        pending = []
        for group in groups.values():
            diverged, held = train_group(group, device, stack, overwrite, wait)
            failed, pending = failed + diverged, pending + held
        if not pending:
            break
    return failed


def train_group(group, device, stack, overwrite, wait):
    """(runs that diverged, runs another process holds) of one stackable group: its unfinished runs
    trained `stack` at a time, each held from its decision to the end of its stack's training."""
    from toobig.training.stacked import train_stack
    diverged, held, todo = 0, [], list(group)
    while todo:
        with ExitStack() as holding:
            chosen = []
            while todo and len(chosen) < stack:
                label, args, config = run = todo.pop(0)
                state, _ = holding.enter_context(held_run(label, config, overwrite, wait))
                if state == HELD:
                    held.append(run)
                elif state != "finished":
                    chosen.append(config)
            if chosen:
                diverged += len(train_stack(chosen, device))  # a stack trains from scratch, partial runs too
    return diverged, held


def write_outputs(rows, out, task, n_runs, n_seeds, logged_norms=()):
    """summary.csv, sizes.md and the figures (and for facts capacity.md, and norms.png from the
    finished run folders `logged_norms` that have norms.csv) from the rows of the runs that have
    results; figures and counts use finished runs only. Returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    write_summary(rows, out / "summary.csv")
    write_atomically(out / "sizes.md", sizes_table(rows, n_seeds))
    written = ["summary.csv", "sizes.md"]
    finished = [row for row in rows if row["finished"]]  # a partial run is not a result yet
    figures = {"phase.png": (phase_figure, f"{task} sweep: {len(finished)} of {n_runs} runs finished", finished),
               "inside.png": (inside_figure, f"{task} sweep: inside the models against the held-out four",
                              [row for row in finished if row["number_line_final"] is not None]),
               "timing.png": (timing_figure, f"{task} sweep: the held-out rule and the fit of the training sums",
                              finished if any(row["first_iter_train_all_right"] is not None
                                              or row["heldout_quadruple_rank"] is not None for row in finished) else []),
               "held_out.png": (pairs_figure, f"{task} sweep: the held-out pairs",
                                finished if len({row["held_out"] for row in finished}) > 1
                                and any(row["evals_each_heldout_right"] for row in finished) else [])}
    for name, (figure, title, shown) in figures.items():
        if shown:
            write_figure(figure(shown, title), out / name)
            written.append(name)
    if logged_norms:
        write_figure(norms_figure(logged_norms, f"{task} sweep: the weight norm along training"), out / "norms.png")
        written.append("norms.png")
    if rows[0]["facts_acc_at_best"] is not None:
        write_atomically(out / "capacity.md", capacity_report(rows, n_seeds))
        written.append("capacity.md")
    return written


def main(argv=None):
    try:
        options = parse_args(OPTIONS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        shard = parse_shard(options["shard"])
        runs, out = grid(options)
        for name, _, config in runs:  # every run's values, before any starts
            try:
                validate(config)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        n_seeds = len(parse_list("seeds", options["seeds"], int))
        check_pool(options["jobs"], options["threads"])
        if options["summarize_only"]:
            check_grid_covers(out, runs)
        device = pick_device(options["device"])
        if device.startswith("cuda") and any(config["weight_norm"] for _, _, config in runs):
            raise ValueError(f"--weight_norms={options['weight_norms']}: a stack does not hold each model's norm "
                             f"(toobig/training/stacked.py); give --device=cpu")
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    failed = 0
    if not options["summarize_only"]:
        mine = runs[shard[0]::shard[1]]
        try:
            # this sweep is training (see below); shared with other sweeps, waiting only while one
            # writes the summary
            with locked_folder(out, shared=True, wait=True):
                if device.startswith("cuda"):
                    failed = train_stacks(mine, device, options["stack"], options["overwrite"])
                else:
                    failed = sum(code != 0 for code in train_all(mine, options["jobs"], options["threads"],
                                                                options["overwrite"]))
        except (ValueError, *MACHINE_ERRORS) as e:
            exit_with_error(e)
    # the sweep folder alone: no other sweep still training (each holds it shared while it
    # does), so what is on disk is every run's last word; else the last of them summarizes
    with locked_folder(out, wait=False) as alone:
        if not alone:
            print(f"another sweep is still training runs in {out}: the summary is left to it, the last to end "
                  f"(or run this with --summarize_only once it has)")
            sys.exit(1 if failed or options["summarize_only"] else 0)
        try:
            summarize(runs, out, options["task"], n_seeds, failed)
        except MACHINE_ERRORS as e:  # a damaged run file, a read-only folder: one line
            exit_with_error(e)


def summarize(runs, out, task, n_seeds, failed):
    """The sweep folder's summary from the run folders of the grid: for a random-answer task
    summarize_capacity's, for a one-operation table summarize_operations', else summarize_paper's;
    exits 1 if a run failed."""
    dataset = task_named(task).dataset
    if dataset in RANDOM_TASKS:
        summarize_capacity(runs, out, task)
    elif dataset in OPERATION_TASKS:
        summarize_operations(runs, out)
    else:
        summarize_paper(runs, out, task, n_seeds)
    sys.exit(1 if failed else 0)


def summarize_paper(runs, out, task, n_seeds):
    """summary.csv, sizes.md and the figures (write_outputs) from the runs of a paper task."""
    summarized = [(Path(config["out_dir"]), summarize_run(config)) for _, _, config in runs]
    rows = [row for _, row in summarized if row is not None]
    if not rows:
        print(f"no run of this sweep has results yet under {out}")
        return
    logged_norms = [folder for folder, row in summarized if row and row["finished"] and (folder / "norms.csv").is_file()]
    written = write_outputs(rows, out, task, len(runs), n_seeds, logged_norms)
    finished = sum(row["finished"] for row in rows)
    print(f"wrote {', '.join(str(out / w) for w in written)} from {len(rows)} of {len(runs)} runs"
          f" ({finished} finished)")


def summarize_capacity(runs, out, task):
    """tools/capacity.py's capacity.csv, capacity.md and capacity.png from the run folders of the grid
    that have weights."""
    folders = [Path(config["out_dir"]) for _, _, config in runs]
    folders = [folder for folder in folders if (folder / "model_last.pt").is_file()]
    if not folders:
        print(f"no run of this sweep has weights yet under {out}")
        return
    rows = [capacity_row(folder) for folder in folders]
    written = write_capacity_report(rows, out, f"{task} sweep: capacity in bits")
    print(f"wrote {', '.join(map(str, written))} from {len(rows)} of {len(runs)} runs "
          f"({sum(row['finished'] for row in rows)} finished)")


def summarize_operations(runs, out):
    """operations.csv and operations.md (toobig/analysis/operation_summary.py) from the run folders of
    the grid that have an evaluation."""
    rows = [row for row in (operation_row(config["out_dir"]) for _, _, config in runs) if row is not None]
    if not rows:
        print(f"no run of this sweep has results yet under {out}")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "operations.csv", operation_csv(rows))
    write_atomically(out / "operations.md", operation_table(rows))
    print(f"wrote {out / 'operations.csv'}, {out / 'operations.md'} from {len(rows)} of {len(runs)} runs "
          f"({sum(row['finished'] for row in rows)} finished)")


if __name__ == "__main__":
    main()
