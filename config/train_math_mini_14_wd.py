# n14 on arithmetic: 1,456 parameters (SPEC §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/math_mini_14_wd'
dataset = 'as_math'
batch_size = 882
block_size = 9
n_embd = 14
weight_decay = 0.1
