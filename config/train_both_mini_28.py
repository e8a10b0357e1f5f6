# n28 on arithmetic and facts jointly: 6,636 parameters (docs/STUDY.md §2-3)
out_dir = 'out/both_mini_28'
dataset = 'both_math_and_facts'
n_embd = 28
