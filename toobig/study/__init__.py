"""The study's facts (docs/STUDY.md): the tasks' text and vocabulary (tasks), the training
settings (training_config) and the evaluation protocol (evaluation)."""
