# n56 on arithmetic: 19,936 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/math_mini_56_wd'
dataset = 'as_math'
n_embd = 56
weight_decay = 0.1
