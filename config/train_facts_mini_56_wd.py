# n56 on the 50 capital facts: 21,840 parameters (docs/STUDY.md §2-3)
# controlled-regularization variant: weight decay 0.1, no dropout
out_dir = 'out/facts_mini_56_wd'
dataset = 'facts_char'
n_embd = 56
weight_decay = 0.1
