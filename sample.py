"""
Sample from a trained model (nanoGPT's sample.py, for this repo's checkpoints).

    python sample.py --out_dir=out/math_mini_14 --ckpt=ckpt_best_math.pt --start="<7-5" --num_samples=5 --max_new_tokens=3
    python sample.py --out_dir=out/facts_mini_28 --start="Capital of Japan is " --max_new_tokens=10
    python sample.py --out_dir=out/both_mini_56 --start=FILE:prompt.txt

All samples are drawn in one batched generate call.
"""
from pathlib import Path

import torch

from configurator import exit_with_error, parse_args_or_exit
from evaluation import CheckpointError, autocast, load_model, pick_device

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


def main():
    config = parse_args_or_exit(DEFAULTS, allow_config_files=False)
    start = config["start"]
    if start.startswith("FILE:"):
        path = Path(start[5:])
        if not path.is_file():
            exit_with_error(f"--start=FILE:{path}: no such file")
        start = path.read_text()
    if not start:
        exit_with_error("--start is empty; the model needs at least one character to continue")
    for key in ("num_samples", "max_new_tokens"):
        if config[key] < 1:
            exit_with_error(f"--{key}={config[key]} must be at least 1")
    if config["temperature"] < 0:
        exit_with_error(f"--temperature={config['temperature']} must be 0 (greedy) or more")
    device = pick_device(config["device"])
    try:
        model, codec, _ = load_model(Path(config["out_dir"]) / config["ckpt"], device)
        prompt = codec.encode(start)
    except (CheckpointError, ValueError) as e:
        exit_with_error(e)
    torch.manual_seed(config["seed"])
    generator = torch.Generator(device=device).manual_seed(config["seed"])
    x = torch.tensor([prompt], device=device).repeat(config["num_samples"], 1)
    with autocast(device):
        y = model.generate(x, config["max_new_tokens"], temperature=config["temperature"],
                           top_k=config["top_k"] or None, generator=generator)
    for row in y.tolist():
        print(codec.decode(row))
        print("---------------")


if __name__ == "__main__":
    main()
