# n28 on the 50 capital facts: 6,216 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/facts_mini_28_wd'
dataset = 'facts_char'
n_embd = 28
weight_decay = 0.1
