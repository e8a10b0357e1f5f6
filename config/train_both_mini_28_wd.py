# n28 on arithmetic and facts jointly: 6,636 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/both_mini_28_wd'
dataset = 'both_math_and_facts'
n_embd = 28
weight_decay = 0.1
