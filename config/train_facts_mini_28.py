# n28 on the 50 capital facts: 6,216 parameters (docs/STUDY.md §2-3)
out_dir = 'out/facts_mini_28'
dataset = 'facts_char'
n_embd = 28
