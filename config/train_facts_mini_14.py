# n14 on the 50 capital facts: 1,932 parameters (docs/STUDY.md §2-3)
out_dir = 'out/facts_mini_14'
dataset = 'facts_char'
n_embd = 14
