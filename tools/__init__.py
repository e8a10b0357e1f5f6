"""
The tools beyond the design card, run as `python tools/<name>.py` (from any directory) or, from
the repository's root, `python -m tools.<name>`:

    sweep         a grid of runs (widths x seeds x settings) and its summary
    capacity      bits stored of random-answer tables, each width's capacity (issue 39)
    run_configs   the paper's configs through the resuming pool
    claims        results/claims.md from the committed runs
    long_runs     the long runs' table and figure (results/sweeps/long)
    readme_tables results/README.md's generated tables, rewritten from their files
    why           the interventions report over a sweep (results/why*)
    progress      measures along training from kept weights (--keep_evals)
    intervene     one model's components ablated and patched
    inspect_model one model's attention and embeddings
    margins       per-item logit margins of a checkpoint
    facts_order   which facts are learned first
    bench         the training step's speed
    tools/gpu_job.sh    the MLT runs on a lent GPU
"""
