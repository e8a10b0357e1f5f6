#!/usr/bin/env bash
# The GPU work of one lease, as one script (the README's GPU results come from it):
#
#   bash tools/gpu_job.sh start [config ...]   # benchmarks, then the runs in the background, then smoke tests
#   bash tools/gpu_job.sh collect 560          # wait up to 560 s for the runs, then pack their results
#
# `start` times the training step and the evaluation first, on an idle GPU; then
# it starts the runs (by default the six MLT configs, config/train_*_mlt*.py,
# 30,000 iterations each), all at once, each in a process session of its own
# so that it outlives the command (out/gpu/<run>); then it checks
# the rest of the CUDA path end to end beside them (short runs, resume, DDP,
# sample.py, eval_as_math.py, eval_capitals.py). `collect` packs whatever the
# runs have written so far and can be called again. Everything worth keeping
# lands in $OUT as a log and one archive per call.
# TINY=1 runs the same steps on the CPU with tiny settings, to try the script.
set -u
cd "$(dirname "$0")/.."  # the repository's root
OUT=${OUT:-/tmp/gpu_job_out}
mkdir -p "$OUT" out
export PYTHONUNBUFFERED=1
MLT_CONFIGS="config/train_math_mlt.py config/train_facts_mlt.py config/train_both_mlt.py
config/train_math_mlt_wd.py config/train_facts_mlt_wd.py config/train_both_mlt_wd.py"
RUN_PATTERN="[o]ut_dir=out/gpu/"  # the runs' command lines ([o]: never this script's own)
if [ "${TINY:-0}" = 1 ]; then
  DEV=cpu BENCH="--iters=20 --eval_repeats=1" STACK=2 POOL=2 SMOKE=20 MLT_SMOKE=4
  MLT_SMALL="--batch_size=8 --compile=False --n_layer=2 --n_embd=48" MLT_BENCH="--iters=20 --eval_repeats=1" MLT_RUN="--max_iters=6 --eval_interval=3"
else
  DEV=cuda BENCH="--iters=1000" STACK=64 POOL=3 SMOKE=500 MLT_SMOKE=300 MLT_SMALL="" MLT_BENCH="--iters=300" MLT_RUN=""
fi

step() {  # step <seconds> <command...>: run it, logged, never longer than its limit
  local limit=$1; shift
  echo "### $* ($(date +%T))"
  timeout "$limit" "$@" 2>&1 | grep -v -e "^\s*$" -e "UserWarning" -e "warnings.warn"
  echo "### exit ${PIPESTATUS[0]}"
}

start() {
  step 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  step 30 python -c "import torch, numpy, matplotlib, tqdm, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
  # checkpoints of MLT runs (~127 MB each, rewritten every evaluation) go to memory, not disk
  if [ "$DEV" = cuda ] && [ ! -e out/gpu ]; then mkdir -p /dev/shm/gpu && ln -s /dev/shm/gpu out/gpu; fi

  # --- speed, on an idle GPU ---------------------------------------------------
  step 150 python tools/bench.py config/train_math_mini_14.py --device=$DEV $BENCH
  step 150 python tools/bench.py config/train_math_mini_14.py --device=$DEV $BENCH --compile_mode=reduce-overhead
  step 100 python tools/bench.py config/train_math_mini_14.py --device=$DEV $BENCH --compile=False
  step 150 python tools/bench.py config/train_math_mlt.py --device=$DEV $MLT_BENCH $MLT_SMALL
  step 150 python tools/bench.py config/train_facts_mlt.py --device=$DEV $MLT_BENCH $MLT_SMALL
  step 100 python tools/bench.py config/train_math_mini_14.py --device=$DEV $BENCH --stack=$STACK --iters=200
  step 200 python tools/bench.py config/train_both_mlt.py --device=$DEV $MLT_BENCH --iters=100 --pool=$POOL $MLT_SMALL

  # --- the runs, all at once, each in its own session ----------------------------------
  for cfg in ${RUNS:-$MLT_CONFIGS}; do
    name=$(basename "$cfg" .py); name=${name#train_}
    mkdir -p "out/gpu/$name"
    setsid nohup python train_with_eval.py "$cfg" --out_dir="out/gpu/$name" --device=$DEV --quiet $MLT_RUN \
      $MLT_SMALL > "out/gpu/$name/train.log" 2>&1 < /dev/null &
  done
  echo "### started the runs ($(date +%T))"

  # --- the rest of the CUDA path, end to end, beside them ---------------------------
  # (a bare `wait` would also wait for the runs above: wait for these only)
  step 200 python train_with_eval.py config/train_math_mini_14.py --device=$DEV --max_iters=$SMOKE --out_dir=out/smoke/math_14 --quiet &
  smoke=($!)
  for task in math facts both; do
    step 300 python train_with_eval.py config/train_${task}_mlt.py --device=$DEV --max_iters=$MLT_SMOKE --eval_interval=100 \
      --out_dir=out/smoke/${task}_mlt --quiet $MLT_SMALL &
    smoke+=($!)
  done
  wait "${smoke[@]}"
  step 120 python train_with_eval.py config/train_math_mini_14.py --device=$DEV --max_iters=$((SMOKE + 250)) \
    --out_dir=out/smoke/math_14 --init_from=resume --quiet
  step 120 python sample.py --out_dir=out/smoke/math_14 --ckpt=ckpt_best_math.pt --start="<7-5=" --num_samples=5 --max_new_tokens=3 --temperature=0.01
  step 120 python eval_as_math.py --out_dir=out/smoke/math_14 --ckpt=ckpt_best_math.pt
  step 120 python eval_as_math.py --out_dir=out/smoke/math_mlt --greedy
  step 120 python sample.py --out_dir=out/smoke/facts_mlt --start="Capital of Japan is " --num_samples=3 --max_new_tokens=10
  step 120 python eval_capitals.py --out_dir=out/smoke/both_mlt
  step 150 torchrun --standalone --nproc_per_node=1 train_with_eval.py config/train_math_mini_14.py --device=$DEV \
    --max_iters=100 --eval_interval=50 --out_dir=out/smoke/ddp_math_14 --quiet
  tar czf "$OUT/smoke.tar.gz" --exclude='*.pt' out/smoke
  progress
}

progress() {  # the last row of each run so far
  for f in out/gpu/*/train.log; do
    d=$(dirname "$f")
    echo "$d: $(tail -n 1 "$d/results.csv" 2>/dev/null | cut -d, -f1-2) | $(tail -n 1 "$f")"
  done
}

collect() {
  local deadline=$((SECONDS + ${1:-560}))
  while pgrep -f "$RUN_PATTERN" > /dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 10
  done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null
  progress
  tar czf "$OUT/runs.tar.gz" --exclude='*.pt' --exclude='*.tmp' -h out/gpu
  pgrep -f "$RUN_PATTERN" > /dev/null && echo "### runs still running" || echo "### runs done"
}

case "${1:-}" in
  start) shift; RUNS="$*"; start 2>&1 | tee "$OUT/start.log" ;;
  collect) collect "${2:-560}" 2>&1 | tee "$OUT/collect.log" ;;
  *) echo "usage: bash tools/gpu_job.sh start|collect [seconds]" >&2; exit 2 ;;
esac
