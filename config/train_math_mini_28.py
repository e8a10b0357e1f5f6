# n28 on arithmetic: 5,264 parameters (SPEC §2-3)
out_dir = 'out/math_mini_28'
dataset = 'as_math'
batch_size = 882
block_size = 9
n_embd = 28
