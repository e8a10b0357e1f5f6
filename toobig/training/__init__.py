"""Training: the step and its schedule (step), the fused C++ step (fused_step), the evaluation
written at every interval (step.Recorder), many small models as one (stacked), a pool of runs (pool)."""
