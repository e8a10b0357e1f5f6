# n56 on arithmetic: 19,936 parameters (docs/STUDY.md §2-3)
out_dir = 'out/math_mini_56'
dataset = 'as_math'
n_embd = 56
