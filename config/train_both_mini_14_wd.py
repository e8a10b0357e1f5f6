# n14 on arithmetic and facts jointly: 2,142 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/both_mini_14_wd'
dataset = 'both_math_and_facts'
n_embd = 14
weight_decay = 0.1
