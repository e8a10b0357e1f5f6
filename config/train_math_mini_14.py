# n14 on arithmetic: 1,456 parameters (docs/STUDY.md §2-3)
out_dir = 'out/math_mini_14'
dataset = 'as_math'
n_embd = 14
