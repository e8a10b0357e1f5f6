# n14 on arithmetic: 1,456 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/math_mini_14_wd'
dataset = 'as_math'
n_embd = 14
weight_decay = 0.1
