# n56 on the 50 capital facts: 21,840 parameters (docs/STUDY.md §2-3)
out_dir = 'out/facts_mini_56'
dataset = 'facts_char'
n_embd = 56
