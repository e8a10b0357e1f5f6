# n28 on arithmetic: 5,264 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/math_mini_28_wd'
dataset = 'as_math'
n_embd = 28
weight_decay = 0.1
