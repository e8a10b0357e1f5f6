"""A run on disk: its folder and every file in it (run_folder), reading runs and the protocols
that pick an evaluation (reading), the checkpoint loader (checkpoints), scoring a checkpoint (scoring)."""
