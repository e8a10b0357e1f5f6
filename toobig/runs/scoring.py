"""
Scoring a checkpoint as training scored it, for the CLIs that score one (eval_as_math.py,
eval_capitals.py, tools/inspect_model.py): the run's own sampling settings and seed, each
replaced by an option given; and the options those CLIs share (CLI_DEFAULTS).
"""
from pathlib import Path

from toobig.core.devices import autocast, pick_device
from toobig.runs.checkpoints import load_paper_model
from toobig.runs.reading import find_run_folder, read_run_json
from toobig.study.evaluation import Sampling, evaluate
from toobig.study.tasks import TASKS, check_sampling
from toobig.study.training_config import saved_config

CLI_DEFAULTS = dict(
    out_dir="out/math_mini_14",
    ckpt="ckpt.pt",     # file inside out_dir: ckpt.pt, model_best.pt, ckpt_best_math.pt, ... (checkpoint_path)
    greedy=False,       # argmax decoding (also when the run's evaluation was greedy)
    num_samples=None,   # None: as the run's training evaluation sampled (eval_samples, ...)
    temperature=None,
    top_k=None,
    seed=None,          # None: the run's seed + the checkpoint's iteration, as training seeded it
    json=False,         # print one JSON object instead of tables
    device="auto",
)
PART_NAMES = {"math": "arithmetic", "facts": "facts"}
LAST = "ckpt.pt"  # the default --ckpt: the last evaluation, training's resume point
# what each checkpoint a run writes (toobig/runs/run_folder.py) holds, as the scored line names it
HOLDS = {LAST: "the last evaluation", "model_last.pt": "the last evaluation",
         "model_best.pt": "the best-combined evaluation", "ckpt_best_combined.pt": "the best-combined evaluation",
         "ckpt_best_math.pt": "the best-arithmetic evaluation", "ckpt_best_facts.pt": "the best-facts evaluation"}
BEST = ("model_best.pt", "ckpt_best_combined.pt")  # where a run keeps its best evaluation's weights, either


def checkpoint_path(folder, name):
    """The file --ckpt names in a run folder. The committed runs keep no ckpt.pt, only its weights
    (model_last.pt, the same last evaluation): the default LAST falls back to it there, so that a
    committed run scores without naming a file."""
    path = Path(folder) / name
    if name == LAST and not path.is_file() and (path.parent / "model_last.pt").is_file():
        return path.parent / "model_last.pt"
    return path


def scored(path, checkpoint):
    """The report fields naming what a tool scored: the file, its iteration, which evaluation it
    holds (HOLDS), and where the last evaluation is scored, the run's best one (BEST) and its
    iteration (run.json), so that a user may choose it with --ckpt."""
    path = Path(path)
    fields = {"checkpoint": str(path), "iter": checkpoint.get("iter_num"), "checkpoint_holds": HOLDS.get(path.name)}
    best = next((path.parent / name for name in BEST if (path.parent / name).is_file()), None)
    if fields["checkpoint_holds"] == HOLDS[LAST] and best is not None:
        try:
            best_iter = read_run_json(path.parent / "run.json").get("best", {}).get("combined_acc", {}).get("iter")
        except (ValueError, AttributeError):  # a damaged run.json names no best; the score stands without it
            best_iter = None
        fields.update(best_checkpoint=str(best), best_iter=best_iter)
    return fields


def scored_line(fields, verb="scored"):
    """One line: `scored results/math_mini_14/model_last.pt (iteration 30,000: the last evaluation;
    the best-combined evaluation is in results/math_mini_14/model_best.pt, iteration 16,500: --ckpt=model_best.pt)`."""
    def iteration(n):
        return "iteration unknown" if n is None else f"iteration {n:,}"
    line = f"{verb} {fields['checkpoint']} ({iteration(fields['iter'])}"
    line += f": {fields['checkpoint_holds']}" if fields.get("checkpoint_holds") else ""
    if fields.get("best_checkpoint") and fields["best_iter"] == fields["iter"]:
        line += f", also {HOLDS['model_best.pt']}"
    elif fields.get("best_checkpoint"):
        line += (f"; {HOLDS['model_best.pt']} is in {fields['best_checkpoint']}, {iteration(fields['best_iter'])}: "
                 f"--ckpt={Path(fields['best_checkpoint']).name}")
    return line + ")"


def check_sampling_options(config):
    """The sampling options a tool was given ({name: value or None}), checked before any file
    is read. Raises ValueError naming a bad one."""
    given = {"num_samples": config["num_samples"], "temperature": config["temperature"], "top_k": config["top_k"]}
    if config["seed"] is not None and (not isinstance(config["seed"], int) or isinstance(config["seed"], bool)):
        raise ValueError(f"--seed={config['seed']!r} must be an integer")
    defaults = Sampling()
    check_sampling(*(getattr(defaults, key) if value is None else value for key, value in given.items()),
                   names=("--num_samples", "--temperature", "--top_k"))
    return given


def sampling_as_trained(config, checkpoint):
    """(Sampling, seed, whether both are training's) for scoring a checkpoint: the run's own
    eval_* settings and its seed + iteration, each replaced by the option a tool was given.
    Raises ValueError naming a bad option."""
    run = saved_config(checkpoint)
    given = check_sampling_options(config)
    chosen = [run[key] if value is None else value
              for key, value in zip(("eval_samples", "eval_temperature", "eval_top_k"), given.values())]
    check_sampling(*chosen, names=("--num_samples", "--temperature", "--top_k"))
    sampling = Sampling(*chosen, config["greedy"] or run["eval_greedy"])
    seed = run["seed"] + checkpoint.get("iter_num", 0) if config["seed"] is None else config["seed"]
    as_trained = config["seed"] is None and all(value is None for value in given.values()) and not config["greedy"]
    return sampling, seed, as_trained


def evaluate_checkpoint(config, part):
    """Score --out_dir/--ckpt on `part` ('math' or 'facts') as training scored it at that
    evaluation: the run's sampling settings and seed (seed + iteration), and its whole
    task drawn in training's order (arithmetic before facts), so that the counts are the
    ones its results.csv recorded. An option given replaces the run's setting. Returns
    (the part's items, a header for the report); raises ValueError for a run without `part`."""
    check_sampling_options(config)
    device = pick_device(config["device"])
    path = checkpoint_path(find_run_folder(config["out_dir"]), config["ckpt"])
    model, codec, checkpoint = load_paper_model(path, device)
    run = saved_config(checkpoint)
    task = TASKS.get(run["dataset"])
    if task is not None and part not in task.parts:
        raise ValueError(f"{path} comes from a run on {run['dataset']} ({task.title.lower()}), "
                         f"which has no {PART_NAMES[part]} to score")
    sampling, seed, as_trained = sampling_as_trained(config, checkpoint)
    with autocast(device):
        _, items = evaluate(model, codec, task.parts if task else (part,), sampling, seed=seed, held_out=run["held_out"])
    header = {**scored(path, checkpoint), "held_out": run["held_out"],
              "sampling": ("greedy" if sampling.greedy else f"{sampling.num_samples} samples, temperature "
                           f"{sampling.temperature}, top_k {sampling.top_k}") + f", seed {seed}"
              + (" (as training scored it)" if as_trained else "")}
    return [item for item in items if (len(item.key) == 3) == (part == "math")], header
