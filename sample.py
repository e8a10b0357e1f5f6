"""
Sample from a trained model (nanoGPT's sample.py, for this repo's checkpoints).

    python sample.py --out_dir=out/math_mini_14 --ckpt=ckpt_best_math.pt --start="<7-5=" --num_samples=5 --max_new_tokens=3
    python sample.py --out_dir=out/facts_mini_28 --start="Capital of Japan is " --max_new_tokens=10
    python sample.py --out_dir=out/both_mini_56 --start=FILE:prompt.txt

All samples are drawn in one batched call of nanoGPT's generate.
"""
import reproducible  # first, before torch: the CPU kernels every run uses (reproducible.py)
import sys
from pathlib import Path

import torch

from configurator import exit_with_error, parse_args
from checkpoints import load_model
from devices import autocast, pick_device
from runs import find_run_folder

DEFAULTS = dict(
    out_dir="out/math_mini_14",
    ckpt="ckpt.pt",         # file inside out_dir: ckpt.pt, ckpt_best_math.pt, ckpt_best_facts.pt, ...
    start="\n",             # the prompt, or FILE:path to read it from a file
    num_samples=10,
    max_new_tokens=20,
    temperature=0.8,        # 0 decodes greedily; the paper's evaluation uses 0.01
    top_k=10,
    seed=1337,
    device="auto",
)


def main(argv=None):
    try:
        config = parse_args(DEFAULTS, sys.argv[1:] if argv is None else argv, allow_config_files=False)
        start = config["start"]
        if start.startswith("FILE:"):
            path = Path(start[5:])
            if not path.is_file():
                raise ValueError(f"--start=FILE:{path}: no such file")
            start = path.read_text()
        if not start:
            raise ValueError("--start is empty; the model needs at least one character to continue")
        for key in ("num_samples", "max_new_tokens"):
            if config[key] < 1:
                raise ValueError(f"--{key}={config[key]} must be at least 1")
        if config["temperature"] < 0:
            raise ValueError(f"--temperature={config['temperature']} must be 0 (greedy) or more")
        device = pick_device(config["device"])
        model, codec, _ = load_model(find_run_folder(config["out_dir"]) / config["ckpt"], device)
        prompt = codec.encode(start)
    except ValueError as e:
        exit_with_error(e)
    torch.manual_seed(config["seed"])
    generator = torch.Generator(device=device).manual_seed(config["seed"])
    x = torch.tensor([prompt], device=device).repeat(config["num_samples"], 1)
    # temperature 0 is greedy decoding: top-k 1 leaves the sampler a single choice
    temperature, top_k = (1.0, 1) if config["temperature"] == 0 else (config["temperature"], config["top_k"] or None)
    with autocast(device):
        y = model.generate(x, config["max_new_tokens"], temperature=temperature, top_k=top_k, generator=generator)
    for row in y.tolist():
        print(codec.decode(row))
        print("---------------")


if __name__ == "__main__":
    main()
