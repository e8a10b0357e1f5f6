"""
A training run's configuration: the defaults (the n14 arithmetic run; config files
hold only what differs), how the task fills in batch and block size, what is
allowed, and what a resumed run may change. Free of torch, so that the tools
which only read runs can use it.
"""
import math
from pathlib import Path

from configurator import ConfigError
from toobig.study.tasks import (
    EVAL_SAMPLING,
    OPERATION_TASKS,
    RANDOM_TASKS,
    TASKS,
    check_sampling,
    check_table,
    get_task,
    parse_held_out,
    task_text,
)

# Defaults: the settings shared by every run of the study (docs/STUDY.md §2-4) and the
# n14 arithmetic model; config files hold only what differs.
DEFAULTS = dict(
    # I/O
    out_dir="out/math_mini_14",
    eval_interval=250,
    log_interval=50,
    init_from="scratch",  # 'scratch', or 'resume' the run in out_dir from its ckpt.pt
    overwrite=False,      # scratch into a folder that holds a run: replace that run
    quiet=False,          # log lines instead of a progress bar
    keep_evals=False,     # also keep the weights of every evaluation, evals/iter_<n>.pt (tools/progress.py)
    # data
    dataset="as_math",
    held_out="5:7",       # the digit pair whose four sums and differences are never trained on (a:b)
    batch_size=None,      # None: the task's (toobig/study/tasks.py: 882 for arithmetic, 576 for facts and joint)
    block_size=None,      # None: the task's (9 for arithmetic, 24 for facts and joint)
    table_size=0,         # random_math, random_facts (tasks.RANDOM_TASKS): the table's lines; 0 for the paper's tasks
    table_seed=0,         # random_math, random_facts: the seed that draws the table's answers
    # model
    n_layer=1,
    n_head=1,
    n_embd=14,
    mlp_expansion=1,
    init_scale=1.0,       # multiplies every initial weight (Omnigrok's alpha); 1: nanoGPT's init, the paper's
    weight_norm=0.0,      # > 0: every weight together held at this L2 norm, after init and every step (Omnigrok); 0: free
    dropout=0.0,
    bias=False,
    # AdamW and the learning-rate schedule
    learning_rate=1e-2,
    max_iters=30000,
    weight_decay=0.0,
    decay_gains=False,    # weight decay on the LayerNorm gains too (weight-norm experiments; nanoGPT: no)
    beta1=0.9,
    beta2=0.99,
    grad_clip=1.0,
    decay_lr=True,
    warmup_iters=2000,
    lr_decay_iters=25000,
    min_lr=1e-4,
    # evaluation sampling
    eval_samples=EVAL_SAMPLING["num_samples"],
    eval_temperature=EVAL_SAMPLING["temperature"],
    eval_top_k=EVAL_SAMPLING["top_k"],
    eval_greedy=False,
    # system
    device="auto",       # auto: cuda, then mps, then cpu
    dtype="auto",        # auto: bfloat16 autocast on CUDA, float32 elsewhere
    step="auto",         # auto: the fused C++ step (toobig/training/fused_step.py) where it covers the run, else torch
    compile=True,        # torch.compile the torch step (CUDA and CPU; pays off within ~3k iterations)
    compile_mode="default",  # torch.compile's mode; reduce-overhead: CUDA graphs
    backend="auto",      # DDP backend; auto: nccl on CUDA, gloo on CPU
    threads=1,           # CPU threads (0: all cores). One thread makes a run repeat bit for bit,
                         # as the committed runs were made; more threads change float sums and results
    seed=1337,
)
# What a resumed run may change: how it runs, not what it computes. Anything else
# given with --init_from=resume must equal the saved value.
CHANGEABLE_ON_RESUME = ("init_from", "out_dir", "max_iters", "device", "dtype", "step", "compile", "compile_mode",
                        "backend", "threads", "quiet", "log_interval", "keep_evals")


def resolve(config):
    """The config with the task's batch and block size where they are None."""
    task = get_task(config["dataset"])
    return {**config, "batch_size": config["batch_size"] or task.batch_size,
            "block_size": config["block_size"] or task.block_size}


def validate(config):
    """Raise ConfigError naming the first bad value and what is allowed."""
    allowed = {"init_from": ("scratch", "resume"), "dataset": (*TASKS, *RANDOM_TASKS, *OPERATION_TASKS),
               "dtype": ("auto", "float32", "bfloat16"),
               "step": ("auto", "fused", "torch"),
               "compile_mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")}
    if config["dtype"] == "float16":
        raise ConfigError("dtype='float16' is not supported (it needs loss scaling, which this loop does not do); "
                          "choose auto, float32 or bfloat16")
    for key, values in allowed.items():
        if config[key] not in values:
            raise ConfigError(f"{key}={config[key]!r} is not allowed; choose one of {', '.join(values)}")
    for key in ("batch_size", "block_size"):  # None in DEFAULTS, so the configurator cannot type them
        if not isinstance(config[key], int) or isinstance(config[key], bool):
            raise ConfigError(f"{key}={config[key]!r} must be an integer")
    at_least = {"eval_interval": 1, "log_interval": 1, "batch_size": 1, "block_size": 1, "n_layer": 1, "n_head": 1,
                "n_embd": 1, "mlp_expansion": 1, "max_iters": 0, "warmup_iters": 0, "threads": 0, "weight_decay": 0, "weight_norm": 0,
                "grad_clip": 0, "min_lr": 0}
    for key, low in at_least.items():
        if not isinstance(config[key], (int, float)) or isinstance(config[key], bool) or not low <= config[key] < math.inf:
            raise ConfigError(f"{key}={config[key]!r} must be a finite number of at least {low}")
    for key in ("learning_rate", "init_scale"):  # init_scale 0: every weight 0, and nothing ever trains
        if not isinstance(config[key], (int, float)) or isinstance(config[key], bool) or not 0 < config[key] < math.inf:
            raise ConfigError(f"{key}={config[key]!r} must be a positive finite number")
    for key in ("dropout", "beta1", "beta2"):
        if not 0 <= config[key] < 1:
            raise ConfigError(f"{key}={config[key]} must be in [0, 1)")
    if config["weight_norm"] and config["init_scale"] != 1.0:  # hold_norm sets the scale the init had
        raise ConfigError(f"weight_norm={config['weight_norm']} sets the initial norm, so init_scale="
                          f"{config['init_scale']} would do nothing; give one of the two")
    if config["n_embd"] % config["n_head"]:
        raise ConfigError(f"n_embd={config['n_embd']} is not divisible by n_head={config['n_head']}")
    if config["decay_lr"] and config["lr_decay_iters"] <= config["warmup_iters"]:
        raise ConfigError(f"lr_decay_iters={config['lr_decay_iters']} must be after warmup_iters={config['warmup_iters']}")
    if not config["out_dir"]:
        raise ConfigError("out_dir is empty; name the run's folder, e.g. --out_dir=out/my_run")
    if Path(config["out_dir"]).exists() and not Path(config["out_dir"]).is_dir():
        raise ConfigError(f"out_dir={config['out_dir']!r} is a file, not a folder")
    parse_held_out(config["held_out"])
    if config["held_out"] != DEFAULTS["held_out"] and "math" not in get_task(config["dataset"]).parts:
        raise ConfigError(f"held_out={config['held_out']!r} applies to arithmetic, and dataset="
                          f"{config['dataset']!r} has none; leave held_out at {DEFAULTS['held_out']}")
    try:
        check_table(config["dataset"], config["table_size"], config["table_seed"], config["held_out"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    text_length = len(task_text(config["dataset"], config["held_out"], config["table_size"], config["table_seed"]))
    if config["block_size"] >= text_length:  # a window and its target need block_size + 1 characters
        raise ConfigError(f"block_size={config['block_size']} must be less than the length of the "
                          f"{config['dataset']} text ({text_length} characters)")
    try:
        check_sampling(config["eval_samples"], config["eval_temperature"], config["eval_top_k"],
                       names=("eval_samples", "eval_temperature", "eval_top_k"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    from toobig.core.devices import (
        pick_device,  # torch: only where a run is about to start
    )
    pick_device(config["device"])  # raises for a device this machine lacks


def resume_config(saved, given):
    """The config of a run being resumed: its saved config, with what `given` may change."""
    config = saved_config({"config": saved})
    for key, value in given.items():
        if key in CHANGEABLE_ON_RESUME:
            config[key] = value
        elif value is None and key in ("batch_size", "block_size"):
            continue  # "the task's", which the saved run already resolved
        elif value != config[key]:
            raise ConfigError(f"{key}={value!r} differs from the run being resumed ({key}={config[key]!r}); "
                              f"a resumed run continues as it was configured (it may change only "
                              f"{', '.join(CHANGEABLE_ON_RESUME[2:])})")
    return config


def changed_keys(saved, asked):
    """[(key, saved value, asked value)] for the keys in which a config asked for differs from a
    saved run's in what the run computes (CHANGEABLE_ON_RESUME and overwrite aside)."""
    return [(key, saved.get(key), value) for key, value in asked.items()
            if key not in (*CHANGEABLE_ON_RESUME, "overwrite") and saved.get(key) != value]


def saved_config(info):
    """The config a run was made with, from its run.json or checkpoint dict: keys added
    since the run was saved take their defaults (the rule resume_config follows too)."""
    return {**DEFAULTS, **(info.get("config") or {})}
