# n28 on arithmetic: 5,264 parameters (docs/STUDY.md §2-3)
out_dir = 'out/math_mini_28'
dataset = 'as_math'
n_embd = 28
