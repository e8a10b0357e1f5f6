# MLT on arithmetic: 10,628,352 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/math_mlt_wd'
dataset = 'as_math'
n_layer = 6
n_head = 6
n_embd = 384
mlp_expansion = 4
dropout = 0.0
weight_decay = 0.1
learning_rate = 1e-5
min_lr = 1e-6
