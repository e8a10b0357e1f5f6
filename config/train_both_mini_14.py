# n14 on arithmetic and facts jointly: 2,142 parameters (docs/STUDY.md §2-3)
out_dir = 'out/both_mini_14'
dataset = 'both_math_and_facts'
n_embd = 14
