# n56 on arithmetic and facts jointly: 22,680 parameters (docs/STUDY.md §2-3)
out_dir = 'out/both_mini_56'
dataset = 'both_math_and_facts'
n_embd = 56
