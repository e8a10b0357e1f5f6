import pytest

from configurator import ConfigError, parse_args
import train_with_eval
from conftest import run_cli, run_main

DEFAULTS = {"out_dir": "out", "max_iters": 100, "learning_rate": 1e-2, "compile": True, "start": "\n"}


def test_files_then_flags_override_in_order(tmp_path):
    config_file = tmp_path / "c.py"
    config_file.write_text("import math\nmax_iters = 7\nlearning_rate = 1\n")
    config = parse_args(DEFAULTS, [str(config_file), "--out_dir=x", "--compile=False", "--start=123"])
    assert config == {"out_dir": "x", "max_iters": 7, "learning_rate": 1.0, "compile": False, "start": "123"}
    assert parse_args(DEFAULTS, ["--compile"])["compile"] is True


@pytest.mark.parametrize("argv,message", [
    (["--max_iter=5"], "did you mean max_iters"),
    (["--max_iters=five"], "expected an int"),
    (["--max_iters=1.5"], "expected an int"),
    (["--compile=maybe"], "expected a bool"),
    (["--max_iters"], "needs a value"),
    (["no/such/config.py"], "does not exist"),
])
def test_bad_input_is_a_config_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_args(DEFAULTS, argv)


def test_unknown_key_in_a_config_file(tmp_path):
    config_file = tmp_path / "c.py"
    config_file.write_text("learnin_rate = 1e-3\n")
    with pytest.raises(ConfigError, match="did you mean learning_rate"):
        parse_args(DEFAULTS, [str(config_file)])


@pytest.mark.parametrize("args,message", [
    (["--n_emb=14"], "unknown config key 'n_emb'; did you mean n_embd"),
    (["--n_embd=big"], "--n_embd=big: expected an int, got a str"),
    (["config/train_math_mini_15.py"], "config file 'config/train_math_mini_15.py' does not exist"),
    (["--dataset=nope"], "dataset='nope' is not allowed"),
    (["--init_from=resume", "--out_dir=/nonexistent/run"], "cannot resume"),
])
def test_training_cli_answers_bad_input_in_one_line(args, message):
    result = run_main(train_with_eval.main, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["--n_head=3"], "n_embd=14 is not divisible by n_head=3"),
    (["--n_embd=None"], "--n_embd=None: expected an int, got a NoneType"),
    (["--dtype=float16"], "dtype='float16' is not supported"),
    (["--dropout=1.5"], "dropout=1.5 must be in [0, 1)"),
    (["--learning_rate=-1"], "learning_rate=-1.0 must be a positive finite number"),
    (["--init_scale=0"], "init_scale=0.0 must be a positive finite number"),
    (["--dataset=facts_char", "--held_out=1:2"], "held_out='1:2' applies to arithmetic"),
    (["--beta2=1.0"], "beta2=1.0 must be in [0, 1)"),
    (["--batch_size=abc"], "batch_size='abc' must be an integer"),
    (["--out_dir="], "out_dir is empty"),
    (["--lr_decay_iters=100"], "lr_decay_iters=100 must be after warmup_iters=2000"),
    (["--device=tpu"], "device='tpu' is not allowed"),
])
def test_bad_values_are_one_line_before_anything_runs(args, message):
    result = run_main(train_with_eval.main, *args, "--max_iters=0")
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_one_line():
    result = run_cli("train_with_eval.py", "--device=cuda", "--max_iters=0")  # the real CLI, in its own process
    assert result.returncode == 2 and "this machine has no CUDA GPU" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_truncated_checkpoint_is_one_line(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"PK\x03\x04 cut short")
    result = run_main(train_with_eval.main, "--init_from=resume", f"--out_dir={tmp_path}")
    assert result.returncode == 2 and "is not a readable checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_key_space_value_works_beside_key_equals_value():
    assert parse_args(DEFAULTS, ["--max_iters", "7", "--out_dir", "x", "--compile", "False", "--start", "-1"]) == \
        {**DEFAULTS, "max_iters": 7, "out_dir": "x", "compile": False, "start": "-1"}
    assert parse_args(DEFAULTS, ["--compile", "--max_iters", "3"]) == {**DEFAULTS, "compile": True, "max_iters": 3}
