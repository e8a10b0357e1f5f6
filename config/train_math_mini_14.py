# n14 on arithmetic: 1,456 parameters (SPEC §2-3)
out_dir = 'out/math_mini_14'
dataset = 'as_math'
batch_size = 882
block_size = 9
n_embd = 14
