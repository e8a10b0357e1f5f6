"""
Sample from a trained model (nanoGPT's sample.py, for this repo's checkpoints),
through the evaluation's decoding (evaluation.sample_ragged): the same crop to
the last block_size tokens, and temperature 0 is true greedy (argmax) decoding.

    python sample.py --out_dir=out/math_mini_14 --ckpt=ckpt_best_math.pt --start="<7-5=" --num_samples=5 --max_new_tokens=3
    python sample.py --out_dir=out/facts_mini_28 --start="Capital of Japan is " --max_new_tokens=10
    python sample.py --out_dir=out/both_mini_56 --start=FILE:prompt.txt

All samples are drawn in one batched call.
"""
import toobig  # noqa: F401  first, before torch: it pins the CPU kernels every run uses (toobig/core/reproducible.py)
import sys
from pathlib import Path

import torch

from toobig.runs.checkpoints import load_model
from toobig.runs.scoring import CLI_DEFAULTS, checkpoint_path, scored, scored_line
from configurator import exit_with_error, parse_args
from toobig.core.devices import MACHINE_ERRORS, autocast, pick_device
from toobig.study.evaluation import sample_ragged
from toobig.runs.reading import find_run_folder
from toobig.study.tasks import EVAL_SAMPLING, check_sampling

# the evaluation tools' options; a free sample takes nanoGPT's sample.py temperature and seed
DEFAULTS = {**{key: CLI_DEFAULTS[key] for key in ("out_dir", "ckpt", "device")},
            "num_samples": EVAL_SAMPLING["num_samples"], "top_k": EVAL_SAMPLING["top_k"],
            "start": "\n",            # the prompt, or FILE:path to read it from a file
            "max_new_tokens": 20,
            "temperature": 0.8,        # 0 decodes greedily; the paper's evaluation uses 0.01
            "seed": 1337}


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        start = config["start"]
        if start.startswith("FILE:"):
            path = Path(start[5:])
            if not path.is_file():
                raise ValueError(f"--start=FILE:{path}: " + ("a folder, not a file" if path.is_dir() else "no such file"))
            try:
                start = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"--start=FILE:{path} is not UTF-8 text (byte {e.start}); the prompt must be "
                                 f"characters of the model's vocabulary") from None
        if not start:
            raise ValueError("--start is empty; the model needs at least one character to continue")
        check_sampling(config["num_samples"], config["temperature"], config["top_k"],
                       names=("--num_samples", "--temperature", "--top_k"))
        if config["max_new_tokens"] < 1:
            raise ValueError(f"--max_new_tokens={config['max_new_tokens']} must be at least 1")
        device = pick_device(config["device"])
        path = checkpoint_path(find_run_folder(config["out_dir"]), config["ckpt"])
        model, codec, checkpoint = load_model(path, device)
        prompt = codec.encode(start)
    except (ValueError, *MACHINE_ERRORS) as e:
        exit_with_error(e)
    # on stderr: stdout holds the samples alone, as nanoGPT's sample.py prints them
    print(scored_line(scored(path, checkpoint), verb="sampling"), file=sys.stderr)
    generator = torch.Generator(device=device).manual_seed(config["seed"])
    x = torch.tensor([prompt], device=device).repeat(config["num_samples"], 1)
    lengths = torch.full((config["num_samples"],), len(prompt), device=device)
    with autocast(device):
        y = sample_ragged(model, x, lengths, config["max_new_tokens"], config["temperature"], config["top_k"], generator)
    for row in y.tolist():
        print(codec.decode(row))
        print("---------------")


if __name__ == "__main__":
    main()
